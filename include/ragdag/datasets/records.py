"""The shapes of a dataset version: extracts (what generators read) and the rows of its files.

SFT rows keep the Alpaca naming (``instruction``, ``output``) that the training stage reads;
preference rows use TRL's standard preference format (``prompt``, ``chosen``, ``rejected``). Both
carry the lineage of the row: document, extract, source URL.
"""

from __future__ import annotations

from pydantic import BaseModel

from ragdag.models import Category, InstructSample


class Extract(BaseModel):
    """Consecutive chunks of one document joined into the unit a generator works on."""

    extract_id: str  # "<document id>:<position>"
    document_id: str
    position: int  # 0 for a document's first extract
    category: Category
    author_full_name: str
    source: str | None = None  # the document's URL
    title: str | None = None
    section: str | None = None  # heading in effect where the extract starts (file path in a repository)
    headings: list[str] = []  # headings that start inside the extract
    part: int = 0  # 0 when the extract starts its file (repositories) or its document
    chunk_indexes: list[int]
    text: str


class SftSample(InstructSample):
    """One row of ``train.jsonl`` / ``test.jsonl``."""

    extract_id: str
    source: str | None = None
    title: str | None = None
    instruction_kind: str  # how the instruction was made (section, question, lead, file, llm, ...)
    generator: str


class PreferencePair(BaseModel):
    """One row of ``preference/train.jsonl`` / ``preference/test.jsonl``."""

    prompt: str
    chosen: str  # the author's own text
    rejected: str
    document_id: str
    category: Category
    author_full_name: str
    extract_id: str
    source: str | None = None
    rejected_by: str  # the model that wrote the rejected side (base_answers.BaseAnswers.model)


class GeneratedSample(BaseModel):
    """A generator's output for one instruction: the SFT sample and, when it has one, its own
    (model-written) answer to use as the rejected side of a preference pair."""

    sample: SftSample
    chosen: str  # the author's text answering the instruction
    model_answer: str | None = None
