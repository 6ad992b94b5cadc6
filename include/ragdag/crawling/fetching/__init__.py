"""HTTP for the crawler: the polite, SSRF-safe fetcher, robots.txt, per-host rate limits and slots."""
