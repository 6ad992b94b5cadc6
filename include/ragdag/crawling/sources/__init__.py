"""Crawlers, one per kind of source (article, feed, repository), the dispatcher that routes a target to
one, and the crawl plan that groups targets by host."""
