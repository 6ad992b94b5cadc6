"""Personal data in text: e-mail addresses, phone numbers, payment cards, IBANs and US SSNs.

A number is masked only when it validates, never for its shape alone:

- phones by ``phonenumbers`` (Google's libphonenumber metadata): a number valid in one of
  :data:`PHONE_REGIONS` (or written with its ``+`` country code) and grouped as that region
  groups it, or a possible one of at least 10 digits after a word such as "call" or "mobile"
  (fictional ``555`` and Ofcom drama numbers are possible, not valid), or in prose one written as
  phones are, starting ``(``, ``0`` or ``+``;
- cards by the Luhn checksum (``python-stdnum``) and an issuer prefix;
- IBANs by their country's length and the mod-97 check (``python-stdnum``);
- SSNs by their area, group and serial rules (``python-stdnum``), dashed, or after "SSN".

In code (``code=True``) a bare run of digits is never masked, only numbers written the way a
person writes them (with spaces, dashes or a ``+``): ids, timestamps, ports, years and IPs stay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Regions whose national formats are recognised without a country code.
PHONE_REGIONS = ("US", "GB")
_PHONE_CONTEXT = re.compile(
    r"\b(?:call|phone|tel|telephone|mobile|cell|fax|text|sms|whatsapp|ring|dial|reach\s+me)\b[^\n\d]{0,20}$",
    re.IGNORECASE,
)
_SSN_CONTEXT = re.compile(r"\b(?:ssn|social\s+security(?:\s+number)?)\b[^\n\d]{0,20}$", re.IGNORECASE)
_CONTEXT_CHARS = 40

_EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![\w-])")
_CARD = re.compile(r"(?<![\w.+-])\d(?:[ -]?\d){12,18}(?!\w|[.-]\d)")
_CARD_PREFIX = re.compile(r"4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|3(?:0[0-5]|[689])|6(?:011|5|4[4-9])|35")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}(?![A-Za-z0-9])")
_SSN_DASHED = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
_SSN_BARE = re.compile(r"(?<![\w-])\d{9}(?![\w-])")
# Something with 7 digits or more, written as a phone could be: the (slow) matcher runs only then.
_PHONE_CANDIDATE = re.compile(r"\d(?:[\s().-]{0,3}\d){6,}")
# Dotted quads (IPs, 4-part versions), and numbers touching a colon (IPv6, times, ports) are not phones.
_DOTTED_QUAD = re.compile(r"\d{1,4}(?:\.\d{1,4}){3,}")


@dataclass(frozen=True)
class PiiHit:
    start: int
    end: int
    kind: str  # email | phone | card | iban | ssn


def _context_before(text: str, start: int, pattern: re.Pattern[str]) -> bool:
    return pattern.search(text[max(0, start - _CONTEXT_CHARS) : start]) is not None


def find_emails(text: str) -> list[PiiHit]:
    hits = []
    for match in _EMAIL.finditer(text):
        start, end = match.span()
        if text[end : end + 1] == ":" and text[end + 1 : end + 2] not in ("", " ", "\n"):
            continue  # user@host:path, an scp-style git remote, not an address
        if text[max(0, start - 3) : start] == "://":
            continue  # the user part of a URL (ssh://git@host/...)
        hits.append(PiiHit(start, end, "email"))
    return hits


def _formatted(raw: str, *, code: bool) -> bool:
    """Written with separators; in code, dots alone do not count (versions, decimals)."""
    return any(not c.isdigit() and not (code and c == ".") for c in raw.strip())


def _candidate_lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of the lines that hold something phone-like, merged: the matcher reads only those."""
    lines: list[tuple[int, int]] = []
    for match in _PHONE_CANDIDATE.finditer(text):
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.end())
        end = len(text) if end < 0 else end
        if lines and start <= lines[-1][1]:
            lines[-1] = (lines[-1][0], max(end, lines[-1][1]))
        else:
            lines.append((start, end))
    return lines


def find_phones(text: str, *, code: bool) -> list[PiiHit]:
    from phonenumbers import Leniency, PhoneNumberMatcher

    spans: set[tuple[int, int]] = set()
    for offset, stop in _candidate_lines(text):
        line = text[offset:stop]
        for region in PHONE_REGIONS:
            # Valid, and grouped as the region writes its numbers (or not grouped at all): a
            # valid-looking run of digit groups ("5698 7654 33") is not taken for a phone.
            for match in PhoneNumberMatcher(line, region, leniency=Leniency.STRICT_GROUPING):
                start, end = offset + match.start, offset + match.end
                if (not code or _formatted(match.raw_string, code=code)) and not _not_a_phone(text, start, end):
                    spans.add((start, end))
            for match in PhoneNumberMatcher(line, region, leniency=Leniency.POSSIBLE):
                raw, start, end = match.raw_string, offset + match.start, offset + match.end
                digits = sum(c.isdigit() for c in raw)
                formatted = _formatted(raw, code=code)
                if digits < 10 or (code and not formatted) or _not_a_phone(text, start, end):
                    continue
                context = _context_before(text, start, _PHONE_CONTEXT)
                shaped = not code and formatted and raw.lstrip()[:1] in ("(", "0", "+")
                if context or shaped:
                    spans.add((start, end))
    return [PiiHit(start, end, "phone") for start, end in _outermost(spans)]


def _not_a_phone(text: str, start: int, end: int) -> bool:
    if ":" in (text[start - 1 : start], text[end : end + 1]):
        return True
    left, right = start, end  # the whole run of digits and dots the match sits in
    while left > 0 and (text[left - 1].isdigit() or text[left - 1] == "."):
        left -= 1
    while right < len(text) and (text[right].isdigit() or text[right] == "."):
        right += 1
    return _DOTTED_QUAD.fullmatch(text[left:right].strip(".")) is not None


def _outermost(spans: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """The same number found for two regions once; a match inside a longer one not again."""
    kept: list[tuple[int, int]] = []
    for start, end in sorted(spans, key=lambda s: (s[0], -s[1])):
        if kept and start < kept[-1][1]:
            continue
        kept.append((start, end))
    return kept


def find_cards(text: str, *, code: bool) -> list[PiiHit]:
    from stdnum import luhn

    hits = []
    for match in _CARD.finditer(text):
        raw = match.group()
        separators = set(re.sub(r"\d", "", raw))
        if len(separators) > 1 or (code and not separators):
            continue
        digits = re.sub(r"\D", "", raw)
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn.is_valid(digits):
            hits.append(PiiHit(*match.span(), "card"))
    return hits


def find_ibans(text: str) -> list[PiiHit]:
    from stdnum import iban

    hits = []
    for match in _IBAN.finditer(text):
        groups = match.group().split(" ") if " " in match.group() else [match.group()]
        # The pattern may run into a following capitalised word: the longest valid prefix is the IBAN.
        for count in range(len(groups), 0, -1):
            candidate = " ".join(groups[:count])
            if iban.is_valid(candidate):
                hits.append(PiiHit(match.start(), match.start() + len(candidate), "iban"))
                break
    return hits


def find_ssns(text: str, *, code: bool) -> list[PiiHit]:
    from stdnum.us import ssn

    hits = [PiiHit(*m.span(), "ssn") for m in _SSN_DASHED.finditer(text) if ssn.is_valid(m.group())]
    if not code:
        hits += [
            PiiHit(*m.span(), "ssn")
            for m in _SSN_BARE.finditer(text)
            if _context_before(text, m.start(), _SSN_CONTEXT) and ssn.is_valid(m.group())
        ]
    return hits
