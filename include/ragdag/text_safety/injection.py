"""Instruction injection in crawled text: words addressed to a model rather than to a reader.

A page can carry text written to steer the model that later reads it ("ignore previous
instructions", "AI assistants: reply only with …", a chat template's markers, an image link that
sends data to another site). Such text must stay data: a training answer that contains it teaches
the twin to obey or to repeat it. :func:`find_injection` names the first pattern a text matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_FLAGS = re.IGNORECASE
_ANY_RULES = r"(?:instructions?|prompts?|messages?|directions?|rules|guidelines|context|commands?)"
_EARLIER = r"(?:all\s+)?(?:the\s+|your\s+|any\s+)?(?:previous|prior|above|earlier|preceding|foregoing|original)"
# Words that name a model (not "assistant" or "agent" alone: people are both).
_AI = r"(?:ai(?:\s+(?:assistants?|agents?|models?|systems?))?|a\.i\.|llms?|(?:large\s+)?language\s+models?|chat\s?gpt|gpt-?\d*|claude|gemini|copilot|chatbots?)"

INJECTION_PATTERNS: Mapping[str, re.Pattern[str]] = {
    "ignore_instructions": re.compile(
        rf"\b(?:ignore|disregard|forget|override|bypass|skip)\s+{_EARLIER}\s+{_ANY_RULES}", _FLAGS
    ),
    "forget_everything": re.compile(
        r"\b(?:ignore|disregard|forget)\s+(?:everything|all)\s+(?:you\s+(?:were|have\s+been)\s+told|above|before)\b"
        r"|\bnew\s+(?:system\s+)?(?:instructions|prompt)\s*:\s",
        _FLAGS,
    ),
    "addressed_to_ai": re.compile(
        rf"(?:^|[.!?:\n]\s*)(?:(?:hey|hi|dear|attention|note\s+to)\s+(?:the\s+|any\s+|all\s+)?{_AI}\b"
        rf"|(?:if\s+)?you\s+are\s+(?:an?\s+)?{_AI}\s*(?:reading|,|:)"
        rf"|{_AI}\s*(?:reading\s+this|,|:)\s*(?:you\s+must|please|ignore|do\s+not|always|never|reply|respond|output|say|print|include))",
        _FLAGS,
    ),
    "system_prompt": re.compile(
        r"\b(?:reveal|print|show|output|repeat|leak|dump)\s+(?:me\s+)?(?:your|the)\s+(?:system\s+prompt|hidden\s+"
        r"instructions|initial\s+instructions)|\byou\s+are\s+now\s+(?:in\s+)?(?:developer|dan|jailbreak|god)\s+mode\b",
        _FLAGS,
    ),
    "chat_markup": re.compile(
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|begin_of_text|start_header_id)\|>|\[/?INST\]|<</?SYS>>"
        r"|^#{2,}\s*(?:system|instruction)\s*:",
        re.IGNORECASE | re.MULTILINE,
    ),
    # An image the reader never sees that carries data off (markdown or HTML, with a query string),
    # or a link that says what it is for.
    "exfiltration_link": re.compile(
        r"!\[[^\]]*\]\(\s*https?://[^)\s]*\?[^)\s]*=[^)]*\)"
        r"|<img\b[^>]*\bsrc\s*=\s*[\"']?https?://[^\"'>\s]*\?[^\"'>\s]*="
        r"|https?://[^\s/]+/\S*\bexfil\w*",
        _FLAGS,
    ),
}


def find_injection(text: str) -> str | None:
    """The name of the first injection pattern ``text`` matches, or None."""
    for name, pattern in INJECTION_PATTERNS.items():
        if pattern.search(text):
            return name
    return None
