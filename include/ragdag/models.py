"""Domain models at the boundaries: ids, chunks, dataset samples (pydantic).

The stored document and its lifecycle are :mod:`ragdag.documents`.
"""

from __future__ import annotations

import hashlib
import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

# Fixed namespace so ids are the same on every machine and every run.
RAGDAG_NAMESPACE = uuid.UUID("6f1c2d1e-6a55-5c1b-9a43-2f7e0c1d9b10")


class Category(StrEnum):
    ARTICLES = "articles"
    POSTS = "posts"
    REPOSITORIES = "repositories"


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def document_id(normalized_url: str) -> str:
    return str(uuid.uuid5(RAGDAG_NAMESPACE, f"document:{normalized_url}"))


def author_id(full_name: str) -> str:
    return str(uuid.uuid5(RAGDAG_NAMESPACE, f"author:{' '.join(full_name.lower().split())}"))


def chunk_point_id(doc_id: str, chunk_index: int, chunk_hash: str) -> str:
    return str(uuid.uuid5(RAGDAG_NAMESPACE, f"chunk:{doc_id}:{chunk_index}:{chunk_hash}"))


class HttpMetadata(BaseModel):
    """What the last fetch of a page said (``http`` of a stored article; the crawler may add fields)."""

    model_config = ConfigDict(extra="allow")

    status: int
    final_url: str
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None


class RepositoryFile(BaseModel):
    path: str
    content: str


class Chunk(BaseModel):
    document_id: str
    chunk_index: int
    text: str
    token_count: int


class InstructSample(BaseModel):
    instruction: str
    output: str
    document_id: str
    author_full_name: str
    category: Category
