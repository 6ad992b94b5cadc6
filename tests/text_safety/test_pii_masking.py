"""Personal data masked when it validates, in prose and in code; numbers that are not PII stay.

The numbers are fake but valid in format: a Luhn-valid test card, the IBAN example of the
standard, a fictional US number, an Ofcom drama mobile, an SSN that passes the SSA rules.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragdag.text_safety import count_masks, mask_text


def _masked(text: str, *, code: bool = False) -> tuple[str, dict[str, int]]:
    result = mask_text(text, code=code)
    return result.text, dict(result.counts)


@pytest.mark.parametrize(
    ("text", "gone", "kind"),
    [
        ("Write to jane.doe@example.com for a copy.", "jane.doe@example.com", "email"),
        ("mailto:jane@example.org", "jane@example.org", "email"),
        ("Call me at 5551234567 after six.", "5551234567", "phone"),
        ("My mobile is 07700 900123, text me.", "07700 900123", "phone"),
        ("The office: +44 20 7946 0958.", "7946 0958", "phone"),
        ("Or (555) 123-4567 in the US.", "123-4567", "phone"),
        ("Dial 212-555-0143 for sales.", "212-555-0143", "phone"),
        ("Card 4111 1111 1111 1111 expires soon.", "4111 1111 1111 1111", "card"),
        ("Card 4111-1111-1111-1111 expires soon.", "4111-1111-1111-1111", "card"),
        ("Paid with 5555555555554444 last week.", "5555555555554444", "card"),
        ("Amex 3782 822463 10005 too.", "3782 822463 10005", "card"),
        ("Send it to GB82 WEST 1234 5698 7654 32 please.", "GB82 WEST 1234 5698 7654 32", "iban"),
        ("IBAN DE89370400440532013000.", "DE89370400440532013000", "iban"),
        ("My SSN is 123-45-6789.", "123-45-6789", "ssn"),
        ("social security number 123456789 on file", "123456789", "ssn"),
    ],
)
def test_personal_data_that_validates_is_masked(text: str, gone: str, kind: str) -> None:
    masked, counts = _masked(text)
    assert gone not in masked
    assert counts == {kind: 1}, masked
    assert count_masks(masked) == counts  # the placeholder names what was masked


@pytest.mark.parametrize(
    "text",
    [
        "Bug 1678616 fixed on 2021-01-05 in version 1.2.3, pages 10-20.",
        "From 2019-2021 we grew; the 1990-2000 era was different.",
        "Card 4111 1111 1111 1112 fails its checksum.",  # one digit off: Luhn fails
        "GB82 WEST 1234 5698 7654 33 has a bad check digit.",
        "SSN 000-12-3456 and 666-12-3456 are never issued.",
        "The order 12345678 shipped; see ISBN 978-3-16-148410-0.",
        "Between 8080-8090 and 27017 the ports are free.",
        "Call the function 3 times with 555 items.",
    ],
)
def test_numbers_that_do_not_validate_stay(text: str) -> None:
    assert _masked(text) == (text, {})


CODE = """SERVER = "10.0.0.1"
REMOTE = "git@github.com:owner/repo.git"
CLONE = "ssh://git@github.com/owner/repo.git"
# ports are 8080-8090 27017, years 2019-2021
PORTS = range(8080, 8090)
VERSION = "3.11.4"
RELEASED = "2024-01-15T12:30:45Z"
TIMEOUT_MS = 1700000000123
ORDER_ID = 4111111111111111
CALLBACK = 5551234567
ADDRESS = "2001:db8::8a2e:370:7334"
BROADCAST = "255.255.255.255"
HASH = "3f786850e387550fdab836ed7e6dc881de23001b"  # pragma: allowlist secret
"""


def test_code_keeps_its_ips_ports_versions_years_and_ids() -> None:
    masked, counts = _masked(CODE, code=True)
    assert (masked, counts) == (CODE, {})


def test_prose_keeps_code_lines_as_code() -> None:
    article = (
        "Point the client at the server and keep the default ports.\n"
        'SERVER = "10.0.0.1"\n'
        'REMOTE = "git@github.com:owner/repo.git"\n'
        "ORDER_ID = 4111111111111111\n"
        "ports are 8080-8090 27017, as in 2019-2021.\n"
    )
    assert _masked(article) == (article, {})


def test_code_masks_what_a_person_wrote_there() -> None:
    code = 'AUTHOR = "jane@example.com"\nSUPPORT = "+44 20 7946 0958"\nTEST_CARD = "4111 1111 1111 1111"\n'
    masked, counts = _masked(code, code=True)
    assert masked == 'AUTHOR = "[EMAIL]"\nSUPPORT = "[PHONE]"\nTEST_CARD = "[CARD]"\n'
    assert counts == {"email": 1, "phone": 1, "card": 1}


def test_masking_is_idempotent() -> None:
    text = "Mail jane@example.com, card 4111 1111 1111 1111, key AKIAIOSFODNN7EXAMPLE."  # pragma: allowlist secret
    once = mask_text(text).text
    again = mask_text(once)
    assert again.text == once and not again.counts


_octet = st.integers(0, 255).map(str)
_NOT_PII = st.one_of(
    st.tuples(_octet, _octet, _octet, _octet).map(".".join),  # IPv4
    st.tuples(st.integers(0, 40), st.integers(0, 99), st.integers(0, 999)).map(
        lambda v: ".".join(map(str, v))
    ),  # versions
    st.tuples(st.integers(1, 65535), st.integers(1, 65535)).map(lambda p: f"{p[0]}-{p[1]}"),  # port ranges
    st.tuples(st.integers(1900, 2099), st.integers(1900, 2099)).map(lambda y: f"{y[0]}-{y[1]}"),  # year ranges
    st.dates().map(lambda d: d.isoformat()),
    st.times().map(lambda t: t.isoformat(timespec="seconds")),
    st.tuples(_octet, _octet, _octet, _octet, st.integers(1, 65535)).map(lambda a: ".".join(a[:4]) + f":{a[4]}"),
)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(_NOT_PII, min_size=1, max_size=4), code=st.booleans())
def test_ips_versions_ports_years_dates_and_times_are_never_masked(values: list[str], code: bool) -> None:
    text = f'HOSTS = ["{values[0]}"]\n' + "Between " + " and ".join(values) + " nothing changed.\n"
    assert mask_text(text, code=code).text == text
