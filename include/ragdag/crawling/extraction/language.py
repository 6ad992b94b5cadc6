"""Language of an article page as an ISO 639-1 code."""

from __future__ import annotations

import re

from lxml.html import HtmlElement

_PRIMARY_SUBTAG = re.compile(r"^\s*([A-Za-z]{2})(?:[-_][A-Za-z0-9]+)*\s*$")
_LANGUAGE_META_NAMES = frozenset({"language", "content-language", "dc.language", "dcterms.language"})
# langid is unreliable on a couple of words (menus, captions); below this it says nothing.
_MIN_DETECTION_CHARS = 40
_DETECTION_SAMPLE_CHARS = 5000


def iso639_1(tag: str | None) -> str | None:
    """ISO 639-1 code of a language tag ("en-US", "pt_BR", "FR" -> "en", "pt", "fr"), else None."""
    match = _PRIMARY_SUBTAG.match(tag or "")
    return match.group(1).lower() if match else None


def _meta_language_tags(root: HtmlElement) -> list[str | None]:
    tags: list[str | None] = []
    for meta in root.iter("meta"):
        key = (meta.get("http-equiv") or meta.get("name") or "").strip().lower()
        if key in _LANGUAGE_META_NAMES:
            # Content-Language may list several ("en, fr"): the first is the main one.
            tags.append((meta.get("content") or "").split(",")[0])
        elif (meta.get("property") or "").strip().lower() == "og:locale":
            tags.append(meta.get("content"))
    return tags


def declared_language(root: HtmlElement) -> str | None:
    """<html lang>, then the page's language <meta> tags (og:locale, Content-Language, DC)."""
    body = root.find("body")
    candidates = [root.get("lang"), root.get("xml:lang")]
    candidates += [body.get("lang")] if body is not None else []
    candidates += _meta_language_tags(root)
    return next(filter(None, map(iso639_1, candidates)), None)


def detect_language(text: str) -> str | None:
    """Most likely language of `text`, or None when there is too little text to tell."""
    sample = text[:_DETECTION_SAMPLE_CHARS]
    if len(sample.strip()) < _MIN_DETECTION_CHARS:
        return None
    # Imported here: loading langid's model takes about half a second, paid only when needed.
    import py3langid

    code, _score = py3langid.classify(sample)
    return iso639_1(code)
