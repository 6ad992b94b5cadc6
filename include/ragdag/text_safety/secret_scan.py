"""Keys and credentials in text, found by detect-secrets' own plugins (the tool of the repo's gate).

Every regex plugin of detect-secrets is used (AWS, GitHub, GitLab, Slack, Stripe, OpenAI, private
keys, JWTs, npm, PyPI, SendGrid, Twilio, Discord, Telegram, basic-auth URLs, ...) except
``IPPublicDetector``: an IP address is not a secret, and code keeps its IPs. Their patterns are read
from the plugin classes, so an upgrade of detect-secrets brings its new patterns; nothing is
verified over the network (the plugins' ``verify`` is never called).

A few patterns add what detect-secrets 1.5 misses, each for a named reason:

- a private key is masked whole, ``BEGIN`` to ``END`` (the plugin finds only the header line);
- ``sk-…`` / ``sk-proj-…`` / ``sk-ant-…`` API keys without OpenAI's ``T3BlbkFJ`` marker;
- an AWS secret access key assigned without quotes (``AWS_SECRET_ACCESS_KEY=…`` in an env file);
- a high-entropy value assigned to a secret-like name (``client_secret = "…"``): detect-secrets'
  entropy plugins flag every quoted random string (hashes, ids) and would mangle code, so entropy
  counts here only after a secret-like name (placeholders such as ``YOUR_API_KEY`` stay).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

# Types whose plugin finds something that is not a secret, or that code must keep.
_SKIPPED_PLUGINS = frozenset({"IPPublicDetector"})
_ALNUM = re.compile(r"[A-Za-z0-9]")


@dataclass(frozen=True)
class SecretHit:
    start: int
    end: int
    kind: str  # e.g. "aws_access_key", "github_token", "private_key"


def _slug(secret_type: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", secret_type.lower()).strip("_")


@cache
def _plugin_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(kind, regex) of every detect-secrets regex plugin used, in a stable order."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector

    patterns: list[tuple[str, re.Pattern[str]]] = []
    for secret_type, plugin in sorted(get_mapping_from_secret_type_to_class().items()):
        if not issubclass(plugin, RegexBasedDetector) or plugin.__name__ in _SKIPPED_PLUGINS:
            continue
        for index, regex in enumerate(plugin.denylist):
            kind = _slug(secret_type)
            if plugin.__name__ == "AWSKeyDetector" and index > 0:
                kind = "aws_secret_key"  # its second pattern finds the secret access key, not the key id
            patterns.append((kind, regex))
    return tuple(patterns)


_PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----.*?-----END (?P=label)-----", re.DOTALL
)
# A header whose END is missing (a truncated page): the header and the lines that follow it, to a blank line.
_PRIVATE_KEY_HEADER = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:\n(?![^\n]*-----END)[^\n]*\S[^\n]*)*"
)
_PUTTY_KEY = re.compile(r"PuTTY-User-Key-File-\d:.*?Private-MAC: *\S+", re.DOTALL)
_SK_KEY = re.compile(
    r"(?<![\w-])sk-(?:(?:proj|ant|svcacct|admin|live|test)-(?:api\d\d-)?)?([A-Za-z0-9_-]{20,})(?![\w-])"
)
_AWS_SECRET_UNQUOTED = re.compile(
    r"aws.{0,20}?(?:secret|key).{0,20}?[=:]\s*([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])", re.IGNORECASE
)
# The name's own prefix does not matter (``client_secret``, ``GITHUB_TOKEN``): the pattern starts at the keyword.
_SECRET_ASSIGNMENT = re.compile(
    r"""(?ix)
    (?:secret|token|passw(?:or)?d|passwd|api[_-]?key|access[_-]?key|private[_-]?key|auth[_-]?key|credentials?)
    [\w-]*["']?\]?\s*(?:=|:=|=>|:)\s*["']([^"'\s]{16,200})["']
    """
)
# The JWT plugin's pattern ends lazily (it matches header.payload): the signature goes with them.
_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_+/=.-]*")
_ENTROPY_LIMIT = 3.5  # bits per character: random keys score ~4-6, words and placeholders ~2.5-3.3


def _entropy(value: str) -> float:
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString

    plugin = Base64HighEntropyString()
    plugin.charset = frozenset(value)  # over the value's own characters, so any alphabet counts
    return plugin.calculate_shannon_entropy(value)


def _looks_random(value: str) -> bool:
    has_letter = any(c.isalpha() for c in value)
    has_digit = any(c.isdigit() for c in value)
    return has_letter and has_digit and _entropy(value) >= _ENTROPY_LIMIT


def _span(match: re.Match[str]) -> tuple[int, int]:
    """The secret's own span: an assignment's value when a group captures what ends the match
    (``aws_secret = "…"``, ``://user:…@``), else the whole match (a group that is a prefix such as
    GitHub's ``ghp``, or an optional middle part, is not the secret)."""
    for index in range(1, (match.re.groups or 0) + 1):
        if match.group(index):
            start, end = match.span(index)
            return (start, end) if end >= match.end() - 1 else match.span()
    return match.span()


def _bounded(text: str, start: int, end: int) -> bool:
    """Not a piece of a longer run of letters and digits (an identifier that merely contains one)."""
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    return not (_ALNUM.match(before) and _ALNUM.match(text[start])) and not (
        _ALNUM.match(after) and _ALNUM.match(text[end - 1])
    )


def find_secrets(text: str) -> list[SecretHit]:
    """Every secret in ``text``, without overlaps (the longest wins), in text order."""
    hits: list[SecretHit] = []
    for regex in (_PRIVATE_KEY_BLOCK, _PRIVATE_KEY_HEADER):
        hits.extend(SecretHit(match.start(), match.end(), "private_key") for match in regex.finditer(text))
    for match in _PUTTY_KEY.finditer(text):
        hits.append(SecretHit(match.start(), match.end(), "private_key"))
    for kind, regex in _plugin_patterns():
        for match in regex.finditer(text):
            start, end = _span(match)
            if kind == "json_web_token":
                end = _TOKEN_TAIL.match(text, end).end()
                end -= len(text[start:end]) - len(text[start:end].rstrip("."))  # a full stop is not the token's
            if end > start and _bounded(text, start, end):
                hits.append(SecretHit(start, end, kind))
    for match in _SK_KEY.finditer(text):
        if _looks_random(match.group(1)):
            hits.append(SecretHit(match.start(), match.end(), "api_key"))
    for match in _AWS_SECRET_UNQUOTED.finditer(text):
        hits.append(SecretHit(*match.span(1), "aws_secret_key"))
    for match in _SECRET_ASSIGNMENT.finditer(text):
        if _looks_random(match.group(1)):
            hits.append(SecretHit(*match.span(1), "credential"))
    return list(_without_overlaps(hits))


def _without_overlaps(hits: list[SecretHit]) -> Iterator[SecretHit]:
    taken: list[SecretHit] = []
    for hit in sorted(hits, key=lambda h: (-(h.end - h.start), h.start)):
        if all(hit.end <= other.start or hit.start >= other.end for other in taken):
            taken.append(hit)
    yield from sorted(taken, key=lambda h: h.start)
