"""Text safety, one owner for every stage: secrets and personal data masked, hostile text found.

- :func:`mask_text` masks keys and credentials (detect-secrets' plugins, :mod:`.secret_scan`) and
  personal data (e-mail addresses, and phones, cards, IBANs and SSNs that validate with
  ``phonenumbers`` and ``python-stdnum``, :mod:`.pii`), without touching IPs, ports, versions or
  years in code. The feature stage masks every document before chunking, so neither Qdrant nor a
  dataset sees the originals; the dataset stage masks instructions and answers again (titles,
  headings and model outputs come in there).
- :func:`find_injection` names instruction-injection text (:mod:`.injection`): the dataset's
  ``injection`` filter drops the samples that carry it.
- :func:`check_person_name` validates the author names that go into prompts (:mod:`.names`).

Why not presidio-analyzer: its pattern recognizers come with spaCy, thinc and tldextract (and an
NLP model its engine loads by default), which would be downloaded at run time; the validating
libraries it wraps for numbers (``phonenumbers``, Luhn and mod-97 checks) are used here directly.
"""

from ragdag.text_safety.injection import INJECTION_PATTERNS, find_injection
from ragdag.text_safety.masking import (
    MASKING_VERSION,
    SECRET_PREFIX,
    MaskedText,
    add_counts,
    count_masks,
    mask_text,
    placeholder,
    sorted_counts,
)
from ragdag.text_safety.names import check_person_name, is_person_name

__all__ = [
    "INJECTION_PATTERNS",
    "MASKING_VERSION",
    "SECRET_PREFIX",
    "MaskedText",
    "add_counts",
    "check_person_name",
    "count_masks",
    "find_injection",
    "is_person_name",
    "mask_text",
    "placeholder",
    "sorted_counts",
]
