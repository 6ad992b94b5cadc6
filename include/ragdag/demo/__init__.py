"""The demo: a sample site to crawl, its sources, the whole chain run in one process, and its summary."""
