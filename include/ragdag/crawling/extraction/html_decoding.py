"""Turn the raw bytes of an HTML page into text, with the HTTP charset when the server sent one."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

# Only the head matters: the HTML spec has browsers look for a meta charset in the first 1024
# bytes; a little more slack copes with long <head> preambles (comments, inline styles).
_PRESCAN_BYTES = 4096
_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""",
    re.IGNORECASE,
)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Labels that browsers decode as a superset (WHATWG Encoding Standard): pages labelled latin-1
# routinely contain windows-1252 curly quotes, and Shift_JIS / GB2312 pages use vendor extensions.
_BROWSER_SUPERSETS = {
    "ascii": "cp1252",
    "latin_1": "cp1252",
    "iso8859_1": "cp1252",
    "iso8859_9": "cp1254",
    "shift_jis": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
}
# Text in any ASCII-compatible charset has almost no C0 control bytes besides whitespace (and ESC,
# which ISO-2022 encodings use); binary data has about one in nine.
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
_MAX_CONTROL_SHARE = 0.02
_SNIFF_BYTES = 8192
# 7-bit ISO-2022-JP also decodes as valid UTF-8 (as garbage): only its escape sequences tell.
_ISO_2022_JP_ESCAPES = (b"\x1b$B", b"\x1b$@", b"\x1b(J")
# The legacy charset of most undeclared web pages, and the HTML spec's default for them.
_WEB_DEFAULT_CODEC = "cp1252"
# charset-normalizer ranks by "chaos" (mess) and cannot split close single-byte Latin charsets on
# short text; within this margin of its best guess, the web's default charset is likelier.
_CHAOS_MARGIN = 0.1
# A stray invalid byte (a bad copy-paste, a page cut mid-character) must not send a UTF-8 page to
# a legacy codec, which garbles every other non-ASCII character ("RÃ©sumÃ©"). Legacy text with
# non-ASCII letters almost never forms valid multi-byte UTF-8 sequences (a lead byte such as "Ã"
# must be followed by a continuation byte such as "©"), so when most non-ASCII runs are valid
# sequences the page is UTF-8 with a few bad bytes, which decode to U+FFFD.
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_MIN_VALID_UTF8_SHARE = 0.75
_UTF8_CODECS = frozenset({"utf_8", "utf_8_sig"})


def _codec_name(label: str) -> str | None:
    try:
        info = codecs.lookup(label.strip().lower())
    except (LookupError, ValueError):  # ValueError: a label with a NUL in it
        return None
    if not getattr(info, "_is_text_encoding", True):  # "base64", "zlib", "rot13": not charsets
        return None
    name = info.name.replace("-", "_")
    return _BROWSER_SUPERSETS.get(name, name)


def _bom_codec(data: bytes) -> str | None:
    return next((codec for bom, codec in _BOMS if data.startswith(bom)), None)


def _declared_codec(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:_PRESCAN_BYTES])
    if not match:
        return None
    codec = _codec_name(match.group(1).decode("ascii", "ignore"))
    # A page cannot really be UTF-16 if its meta tag was readable as ASCII bytes.
    return "utf-8" if codec and codec.startswith("utf_16") else codec


def _try_decode(data: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def looks_binary(data: bytes) -> bool:
    head = data[:_SNIFF_BYTES]
    return bool(head) and len(_CONTROL_BYTES.findall(head)) > _MAX_CONTROL_SHARE * len(head)


def _guessed_codec(data: bytes) -> str | None:
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        return None
    close = {m.encoding for m in matches if m.chaos <= best.chaos + _CHAOS_MARGIN}
    return _WEB_DEFAULT_CODEC if _WEB_DEFAULT_CODEC in close else best.encoding


def _escape_sniffed_codec(data: bytes) -> str | None:
    head = data[:_SNIFF_BYTES]
    return "iso2022_jp" if any(esc in head for esc in _ISO_2022_JP_ESCAPES) else None


def _mostly_utf8(lenient: str) -> bool:
    """Is `lenient` (the bytes decoded as UTF-8 with replacement) UTF-8 with a few bad bytes?"""
    bad = lenient.count("\ufffd")
    good = len(_NON_ASCII.findall(lenient)) - bad
    return good >= _MIN_VALID_UTF8_SHARE * (good + bad)


def _utf8_cut_mid_character(data: bytes) -> str | None:
    """The text of valid UTF-8 whose last character was cut off (a truncated download), or None."""
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return None


def decode_html(data: bytes, charset: str | None = None) -> str:
    """Decode page bytes into text; never raises.

    The order: a byte order mark; UTF-8 when the bytes are valid UTF-8; UTF-8 with U+FFFD for the
    bad bytes when UTF-8 is declared (HTTP or meta) or the non-ASCII bytes are mostly valid UTF-8;
    the HTTP `charset` (the Content-Type label, e.g. "iso-8859-1", as `fetching.parse_content_type`
    reads it into `FetchResult.encoding`); the page's meta charset; a guess. Valid UTF-8 wins over
    a legacy label, in the header as in the page: servers and saved pages often re-encode to UTF-8
    and keep the old label, while legacy text with any non-ASCII byte almost never happens to be
    valid UTF-8. Binary data (an image or archive served as HTML) decodes to "" rather than to
    mojibake; a UTF-16/32 label in the header decodes NUL-rich bytes as that.
    """
    bom = _bom_codec(data)
    if bom:
        return data.decode(bom, errors="replace")
    from_http = _codec_name(charset) if charset else None
    if looks_binary(data):
        # UTF-16 text without a BOM is NUL-rich like binary data: only the header tells them apart.
        if from_http is not None and from_http.startswith(("utf_16", "utf_32")):
            return data.decode(from_http, errors="replace")
        return ""
    escaped = _try_decode(data, _escape_sniffed_codec(data))
    if escaped is not None:
        return escaped
    strict = _try_decode(data, "utf-8")
    if strict is not None:
        return strict
    cut = _utf8_cut_mid_character(data)
    if cut is not None:
        return cut
    declared = from_http or _declared_codec(data)
    lenient = data.decode("utf-8", errors="replace")
    if declared in _UTF8_CODECS or _mostly_utf8(lenient):
        return lenient
    text = _try_decode(data, declared)
    if text is not None:
        return text
    guessed = _try_decode(data, _guessed_codec(data))  # slow on big pages: only when needed
    if guessed is not None:
        return guessed
    return data.decode(declared, errors="replace") if declared else lenient
