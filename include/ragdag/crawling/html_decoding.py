"""Turn the raw bytes of an HTML page into text without any HTTP headers to help."""

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


def _codec_name(label: str) -> str | None:
    try:
        name = codecs.lookup(label.strip().lower()).name.replace("-", "_")
    except LookupError:
        return None
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


def decode_html(data: bytes) -> str:
    """Decode page bytes: BOM, then UTF-8 if valid, then the page's meta charset, then a guess.

    Binary data (an image or archive saved as .html) decodes to "" rather than to mojibake.
    """
    bom = _bom_codec(data)
    if bom:
        return data.decode(bom, errors="replace")
    if looks_binary(data):
        return ""
    # Valid UTF-8 wins over the meta charset: saved and re-served pages are often re-encoded to
    # UTF-8 with their old declaration left in place, while legacy-encoded text with any
    # non-ASCII byte almost never happens to be valid UTF-8.
    declared = _declared_codec(data)
    for codec in (_escape_sniffed_codec(data), "utf-8", declared):
        text = _try_decode(data, codec)
        if text is not None:
            return text
    guessed = _try_decode(data, _guessed_codec(data))  # slow on big pages: only when needed
    return guessed if guessed is not None else data.decode(declared or "utf-8", errors="replace")
