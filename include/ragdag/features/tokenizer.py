"""The embedding model's own word-piece tokenizer, wrapped for chunking: counts, offsets, limits.

Chunking measures text in the units the model sees, so a chunk never gets silently truncated at
encode time. The wrapper uses the Rust ``tokenizers`` backend (offsets, word ids, batch encoding)
with truncation and padding switched off: ``tokenizer.json`` files ship with both enabled (all-MiniLM
pads and truncates to 128), which would make every count wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer


@dataclass(frozen=True)
class TokenizedText:
    """Token start offsets of one text, and where a cut keeps whole words (pre-tokenizer words)."""

    starts: list[int]
    ends: list[int]
    word_starts: list[bool]  # True where a token begins a new word: a safe place to cut


class ModelTokenizer:
    """Counts and offsets with the model's tokenizer; ``max_seq_length`` includes special tokens."""

    def __init__(self, backend: Tokenizer, max_seq_length: int) -> None:
        backend.no_truncation()
        backend.no_padding()
        self._backend = backend
        self.max_seq_length = max_seq_length
        self.special_tokens = backend.num_special_tokens_to_add(False)
        if max_seq_length <= self.special_tokens:
            raise ValueError(f"max_seq_length {max_seq_length} leaves no room for text")

    @property
    def max_content_tokens(self) -> int:
        """Word pieces of text that fit in one model input next to [CLS] and [SEP]."""
        return self.max_seq_length - self.special_tokens

    @classmethod
    def from_sentence_transformer(cls, model: Any) -> ModelTokenizer:
        """From anything with a Hugging Face fast ``tokenizer`` and a ``max_seq_length``."""
        from tokenizers import Tokenizer

        hf_tokenizer = model.tokenizer
        backend = getattr(hf_tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise TypeError(
                f"{type(hf_tokenizer).__name__} has no fast (Rust) backend: chunking needs offsets, "
                "pick an embedding model that ships a tokenizer.json"
            )
        # A private copy: the model's own backend keeps the truncation the model relies on.
        return cls(Tokenizer.from_str(backend.to_str()), int(model.max_seq_length))

    @classmethod
    def from_tokenizer_file(cls, tokenizer_file: Path, max_seq_length: int) -> ModelTokenizer:
        """From a ``tokenizer.json`` (e.g. of an exported graph), without transformers or torch."""
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(tokenizer_file)), max_seq_length)

    @classmethod
    def from_model_dir(cls, model_dir: Path) -> ModelTokenizer:
        """Load only the tokenizer of a sentence-transformers folder (no torch), e.g. for tests."""
        tokenizer_file = model_dir / "tokenizer.json"
        config_file = model_dir / "sentence_bert_config.json"
        if not tokenizer_file.is_file() or not config_file.is_file():
            raise FileNotFoundError(
                f"{model_dir} lacks tokenizer.json or sentence_bert_config.json: "
                "load the full model with ragdag.features.embedding.load_embedder instead"
            )
        max_seq_length = int(json.loads(config_file.read_text())["max_seq_length"])
        return cls.from_tokenizer_file(tokenizer_file, max_seq_length)

    def tokenize(self, text: str) -> TokenizedText:
        encoding = self._backend.encode(text, add_special_tokens=False)
        word_ids = encoding.word_ids
        starts = [start for start, _ in encoding.offsets]
        ends = [end for _, end in encoding.offsets]
        word_starts = [i == 0 or word_ids[i] != word_ids[i - 1] for i in range(len(word_ids))]
        return TokenizedText(starts, ends, word_starts)

    def count_with_special(self, texts: list[str]) -> list[int]:
        """Model input lengths ([CLS] text [SEP]) of many texts, encoded in parallel."""
        if not texts:
            return []
        encodings: list[Encoding] = self._backend.encode_batch(texts, add_special_tokens=True)
        return [len(e.ids) for e in encodings]
