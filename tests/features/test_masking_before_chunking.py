"""The feature stage masks a document before chunking: source files by code rules, docs and prose by
prose rules, the title too; the counts by kind come back with the document's features. The key is a
documentation example."""

from __future__ import annotations

import logging

from ragdag.features.pipeline import prepare_document
from ragdag.models import Category

AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"  # pragma: allowlist secret
SETTINGS_PY = f'''SERVER = "10.0.0.1"
PORTS = range(8080, 8090)  # ports are 8080-8090 27017, since 2019-2021
ORDER_ID = 4111111111111111
AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"


def connect(timeout: float = 5.0) -> str:
    """Connect to the service on the first port."""
    return f"{{SERVER}}:{{PORTS[0]}}"
'''
README = "# service\n\nQuestions go to jane.doe@example.com or to my mobile, 07700 900123.\n"


def test_a_repository_is_masked_by_file_kind_before_chunking(tokenizer, caplog) -> None:
    record = {
        "_id": "repo-1",
        "category": Category.REPOSITORIES.value,
        "title": "service by jane.doe@example.com",
        "content": SETTINGS_PY + README,
        "files": [{"path": "service/settings.py", "content": SETTINGS_PY}, {"path": "README.md", "content": README}],
    }
    with caplog.at_level(logging.WARNING, logger="ragdag.features.pipeline"):
        features = prepare_document(record, tokenizer)
    text = "\n".join(chunk.text for chunk in features.chunks)
    assert AWS_KEY_ID not in text and "[SECRET:AWS_ACCESS_KEY]" in text
    assert "jane.doe@example.com" not in text and "900123" not in text
    # The code keeps its IP, ports, years and the bare digit run (a Luhn-valid id, not a card here).
    for kept in ('SERVER = "10.0.0.1"', "8080-8090 27017", "2019-2021", "ORDER_ID = 4111111111111111"):
        assert kept in text, kept
    assert features.document["title"] == "service by [EMAIL]"
    assert AWS_KEY_ID not in features.cleaned_text
    assert dict(features.masked) == {"email": 2, "phone": 1, "secret:aws_access_key": 1}
    # The decision is logged with the kinds, never the value.
    assert "secrets masked before chunking" in caplog.text and AWS_KEY_ID not in caplog.text


def test_an_article_without_personal_data_is_unchanged(tokenizer) -> None:
    text = "Between 2019-2021 the nightly batch moved from port 8080 to 27017 on 10.0.0.1; version 1.2.3 shipped."
    record = {"_id": "a-1", "category": Category.ARTICLES.value, "title": "Ports", "content": text}
    features = prepare_document(record, tokenizer)
    assert features.cleaned_text == text and not features.masked
