"""Person names that end up in prompts and instructions (the crawl conf's and sources file's authors).

A name is letters (any script, with their accents), spaces, hyphens, apostrophes and dots:
"Jane Doe", "Zoë O'Brien-Smith", "J. R. R. Tolkien", "李小龍". Markup, URLs, digits and
punctuation that can steer a model or a page (``<img src=x onerror=…>``, "ignore previous …:")
are refused with an error that says what is allowed.
"""

from __future__ import annotations

import unicodedata

_ALLOWED_MARKS = frozenset(" -'.\u2019\u2010\u2011")  # space, hyphens, apostrophes (straight and curly), dot


def _allowed(char: str) -> bool:
    # Letters of any script, and the combining marks some scripts write them with.
    return char in _ALLOWED_MARKS or unicodedata.category(char)[0] in ("L", "M")


def check_person_name(value: str) -> str:
    """``value`` with its spaces tidied, or ValueError naming what is not allowed."""
    name = " ".join(unicodedata.normalize("NFC", value).split())
    if not any(unicodedata.category(c)[0] == "L" for c in name):
        raise ValueError("is not a person's name: it has no letters")
    bad = sorted({c for c in name if not _allowed(c)})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        raise ValueError(
            f"is not a person's name: {shown} not allowed; use letters, spaces, hyphens, apostrophes and dots only"
        )
    return name


def is_person_name(value: str) -> bool:
    try:
        check_person_name(value)
    except ValueError:
        return False
    return True
