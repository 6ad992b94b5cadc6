"""ragdag: the domain package of the batch RAG data platform (crawl, validate, embed, datasets, train)."""

__version__ = "0.1.0"
