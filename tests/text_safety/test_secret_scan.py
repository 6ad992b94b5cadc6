"""Keys and credentials found by detect-secrets' plugins (and the few patterns added to them), masked
whole, in code and in prose; hashes, placeholders and IPs stay. Every key here is a documentation
example or made up."""

from __future__ import annotations

import pytest

from ragdag.text_safety import mask_text
from ragdag.text_safety.secret_scan import find_secrets

AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"  # pragma: allowlist secret
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # pragma: allowlist secret
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"  # pragma: allowlist secret
SLACK = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"  # pragma: allowlist secret
OPENAI = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"  # pragma: allowlist secret
OPENAI_LEGACY = "sk-" + "abcdefghij0123456789T3BlbkFJabcdefghij0123456789"  # pragma: allowlist secret
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"  # pragma: allowlist secret
    "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi2dY5s0bWdD6p1mTq4c5b6n7m8\n"  # pragma: allowlist secret
    "q9r0s1t2u3v4w5x6y7z8A9B0C1D2E3F4G5H6I7J8K9L0M1N2O3P4Q5R6S7T8U9V0\n"  # pragma: allowlist secret
    "-----END RSA PRIVATE KEY-----"
)
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."  # pragma: allowlist secret
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"  # pragma: allowlist secret
)


@pytest.mark.parametrize(
    ("text", "secret", "kind"),
    [
        (f"aws_access_key_id = {AWS_KEY_ID}", AWS_KEY_ID, "secret:aws_access_key"),
        (f'aws_secret_access_key = "{AWS_SECRET}"', AWS_SECRET, "secret:aws_secret_key"),
        (f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET, "secret:aws_secret_key"),
        (f"export GITHUB_TOKEN={GITHUB}", GITHUB, "secret:github_token"),
        (f'SLACK_BOT_TOKEN = "{SLACK}"', SLACK, "secret:slack_token"),
        (f"OPENAI_API_KEY={OPENAI}", OPENAI, "secret:api_key"),
        (f"key: {OPENAI_LEGACY}", OPENAI_LEGACY, "secret:openai_token"),
        (f"{PEM}\nprint('loaded')", PEM, "secret:private_key"),
        (f"Authorization: Bearer {JWT}.", JWT, "secret:json_web_token"),
        (
            "git clone https://jane:s3cr3tPassw0rd@git.example.com/x.git",  # pragma: allowlist secret
            "s3cr3tPassw0rd",
            "secret:basic_auth_credentials",
        ),
        (
            'client_secret = "d8e8fca2dc0f896fd7cb4cb0031ba249"',  # pragma: allowlist secret
            "d8e8fca2dc0f896fd7cb4cb0031ba249",  # pragma: allowlist secret
            "secret:credential",
        ),
    ],
)
def test_keys_are_masked_whole_with_their_type(text: str, secret: str, kind: str) -> None:
    for code in (True, False):
        result = mask_text(text, code=code)
        assert secret not in result.text and not any(part in result.text for part in secret.split("\n")[1:2])
        assert dict(result.counts) == {kind: 1}, result.text
        assert f"[{kind.upper()}]" in result.text


def test_a_private_key_without_its_end_is_masked_to_the_blank_line() -> None:
    truncated = PEM.rsplit("\n", 1)[0] + "\n\nThe rest of the page."
    result = mask_text(truncated)
    assert "MIIEpAIB" not in result.text and result.text.endswith("The rest of the page.")


@pytest.mark.parametrize(
    "text",
    [
        'api_key = "YOUR_API_KEY_HERE"',  # a placeholder is no secret  # pragma: allowlist secret
        'password = os.environ["DB_PASSWORD"]',
        'COMMIT = "3f786850e387550fdab836ed7e6dc881de23001b"',  # a git sha, not a key  # pragma: allowlist secret
        'DIGEST = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"',
        'SERVER = "93.184.216.34"',  # detect-secrets' public-IP plugin is left out
        "pip install scikit-learn  # sk-learn is its old name",
        "Use the sk-learn-compatible-estimator interface.",
    ],
)
def test_hashes_placeholders_and_ips_are_not_secrets(text: str) -> None:
    assert find_secrets(text) == []
