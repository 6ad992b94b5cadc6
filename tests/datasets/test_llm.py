"""The ``llm`` generator and its client against a local OpenAI-compatible server (tests/datasets/llm_server.py)."""

from __future__ import annotations

import json

import pytest
from llm_server import Reply, fake_llm
from pydantic import BaseModel

from ragdag.datasets.llm_generator import GeneratedPairs, generate_with_llm, messages_for, prompt_version
from ragdag.datasets.records import Extract
from ragdag.llm_client import (
    LlmBudgetExhausted,
    LlmClient,
    LlmConfigError,
    LlmEndpoint,
    LlmRequestFailed,
    base_url_of,
    endpoint_from_connection,
)

PAIRS = {
    "pairs": [
        {
            "instruction": "Why do feature stores matter for RAG?",
            "answer": "They keep training and inference reading the same features.",
            "passage": "A feature store solves that by giving every downstream consumer one place to read from.",
        }
    ]
}
EXTRACT_TEXT = (
    "Retrieval-augmented generation looks simple on a whiteboard. A feature store solves that by giving "
    "every downstream consumer one place to read from. Both see the same version of the truth."
)


class Answer(BaseModel):
    answer: str


def _client(url: str, **kwargs) -> LlmClient:
    defaults = {"timeout_s": 2.0, "max_retries": 2, "backoff_s": 0.01, "concurrency": 2}
    return LlmClient(LlmEndpoint(base_url=f"{url}/v1", model="test-model", api_key="sk-test"), **{**defaults, **kwargs})


def _extract(n: int) -> Extract:
    return Extract(
        extract_id=f"doc-{n}:0",
        document_id=f"doc-{n}",
        position=0,
        category="articles",
        author_full_name="Jane Doe",
        source=f"https://blog.test/{n}",
        title=f"Post {n}",
        chunk_indexes=[0],
        text=EXTRACT_TEXT,
    )


def test_the_request_has_the_documented_shape_and_the_connection_supplies_it(monkeypatch) -> None:
    with fake_llm() as server:
        server.script.append(Reply(content={"answer": "42"}))
        monkeypatch.setenv(
            "AIRFLOW_CONN_LLM_DEFAULT",
            json.dumps(
                {"conn_type": "http", "host": server.url, "password": "sk-test-key", "extra": {"model": "gpt-4o-mini"}}
            ),
        )
        endpoint = endpoint_from_connection("llm_default")
        assert (endpoint.base_url, endpoint.model) == (f"{server.url}/v1", "gpt-4o-mini")
        with LlmClient(endpoint, temperature=0.7) as client:
            reply = client.chat_json([{"role": "user", "content": "Answer?"}], Answer)
    assert reply.answer == "42"
    [request] = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test-key"
    assert request["body"] == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Answer?"}],
        "temperature": 0.7,
        "response_format": {"type": "json_object"},
    }
    assert client.usage.total_tokens == 60 and client.usage.calls == 1


def test_a_missing_connection_says_what_to_set() -> None:
    with pytest.raises(LlmConfigError, match="AIRFLOW_CONN_LLM_DEFAULT|RAGDAG_DATASET_GENERATOR=offline"):
        endpoint_from_connection("llm_nowhere")
    assert base_url_of("api.openai.com") == "https://api.openai.com/v1"
    assert base_url_of("http://ollama", 11434) == "http://ollama:11434/v1"
    assert base_url_of("http://vllm:8000/openai/v1/") == "http://vllm:8000/openai/v1"


def test_429_and_5xx_are_retried_then_succeed() -> None:
    with fake_llm() as server, _client(server.url) as client:
        server.script += [
            Reply(status=429, raw='{"error": "rate limited"}', headers={"Retry-After": "0"}),
            Reply(status=503, raw="busy"),
            Reply(content={"answer": "ok"}),
        ]
        assert client.chat_json([{"role": "user", "content": "x"}], Answer).answer == "ok"
    assert len(server.requests) == 3 and client.usage.retries == 2 and client.usage.calls == 1


def test_a_client_error_is_not_retried() -> None:
    with fake_llm() as server, _client(server.url) as client:
        server.script.append(Reply(status=401, raw='{"error": "bad key"}'))
        with pytest.raises(LlmRequestFailed, match="HTTP 401"):
            client.chat_json([{"role": "user", "content": "x"}], Answer)
    assert len(server.requests) == 1 and client.usage.failed == 1


def test_a_timeout_is_retried_and_a_lasting_one_fails() -> None:
    with fake_llm() as server, _client(server.url, timeout_s=0.3, max_retries=1) as client:
        server.script += [Reply(delay_s=1.0, content={"answer": "late"}), Reply(content={"answer": "ok"})]
        assert client.chat_json([{"role": "user", "content": "x"}], Answer).answer == "ok"
        server.script += [Reply(delay_s=1.0, content={}), Reply(delay_s=1.0, content={})]
        with pytest.raises(LlmRequestFailed, match="Timeout"):
            client.chat_json([{"role": "user", "content": "x"}], Answer)
    assert client.usage.retries == 2


def test_a_malformed_reply_is_counted_and_dropped_the_rest_is_kept() -> None:
    with fake_llm(default=lambda body: Reply(content=PAIRS)) as server, _client(server.url, concurrency=1) as client:
        server.script += [Reply(content="this is not JSON {"), Reply(content={"pairs": "wrong shape"})]
        samples, stats = generate_with_llm([_extract(n) for n in range(4)], client, pairs_per_extract=5)
    assert (stats["extracts_malformed"], stats["extracts_answered"]) == (2, 2)
    assert client.usage.malformed == 2 and client.usage.total_tokens == 4 * 60, "malformed replies still cost tokens"
    assert [s.sample.document_id for s in samples] == ["doc-2", "doc-3"]
    sample = samples[0]
    assert sample.sample.output == PAIRS["pairs"][0]["answer"] and sample.model_answer == sample.sample.output
    assert sample.chosen == PAIRS["pairs"][0]["passage"], "the author's own words, quoted verbatim from the extract"
    assert sample.sample.generator == "llm" and sample.sample.extract_id == "doc-2:0#0"


def test_the_token_budget_stops_generation() -> None:
    with (
        fake_llm(default=lambda body: Reply(content=PAIRS)) as server,
        _client(server.url, concurrency=1, token_budget=100) as client,
    ):
        samples, stats = generate_with_llm([_extract(n) for n in range(5)], client, pairs_per_extract=1)
        with pytest.raises(LlmBudgetExhausted, match="RAGDAG_LLM_TOKEN_BUDGET"):
            client.chat_json([{"role": "user", "content": "x"}], GeneratedPairs)
    assert len(server.requests) == 2, "60 + 60 tokens reach the budget of 100: no third request"
    assert stats["extracts_answered"] == 2 and stats["extracts_not_reached"] == 3 and len(samples) == 2
    assert client.usage.budget_exhausted


def test_concurrency_is_limited() -> None:
    with (
        fake_llm(default=lambda body: Reply(content=PAIRS, delay_s=0.2)) as server,
        _client(server.url, concurrency=2) as client,
    ):
        generate_with_llm([_extract(n) for n in range(6)], client, pairs_per_extract=1)
    assert server.max_in_flight == 2 and len(server.requests) == 6


def test_the_prompt_is_a_versioned_package_file_filled_per_extract() -> None:
    assert prompt_version().startswith("instruct_pairs.v1+")
    system, user = messages_for(_extract(1), pairs=5)
    assert system["role"] == "system" and '"pairs"' in system["content"]
    assert "5 instruction-answer pairs" in user["content"] and "Jane Doe" in user["content"]
    assert "“Post 1”" in user["content"] and EXTRACT_TEXT in user["content"]


def _pairs_for(body: dict) -> Reply:
    """Two pairs about the extract in the request; the passage is copied from it, as asked."""
    user = body["messages"][1]["content"]
    extract = user.split('"""')[1].strip()
    words = extract.split()
    topic = " ".join(words[:6])
    answer = f"In short, the passage that starts with {topic} explains it: " + " ".join(words[6:40])
    return Reply(
        content={
            "pairs": [
                {
                    "instruction": f"What does the text beginning “{topic}” argue?",
                    "answer": answer,
                    "passage": extract[:400],
                },
                {
                    "instruction": f"Summarise the ideas after “{' '.join(words[6:12])}”.",
                    "answer": answer + " That is all.",
                    "passage": "not in the extract at all " * 5,
                },
            ]
        }
    )


@pytest.mark.slow
def test_the_llm_generator_publishes_a_version_with_tokens_prompt_and_model(
    settings, mongo_db, demo_chunks, monkeypatch
) -> None:
    from ragdag.datasets import layout
    from ragdag.datasets.publish import publish_instruct_dataset
    from ragdag.settings import get_settings
    from ragdag.stores.object_store import open_object_store

    with fake_llm(default=_pairs_for) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_LLM_DEFAULT",
            json.dumps(
                {"conn_type": "http", "host": server.url, "password": "sk-test", "extra": {"model": "gpt-4o-mini"}}
            ),
        )
        monkeypatch.setenv("RAGDAG_DATASET_GENERATOR", "llm")
        monkeypatch.setenv("RAGDAG_LLM_PAIRS_PER_EXTRACT", "2")
        get_settings.cache_clear()
        server.script.append(Reply(content="{not json"))  # one extract's reply is malformed: dropped
        manifest = publish_instruct_dataset(get_settings(), run_id="run-llm").manifest

    generation = manifest.generation
    assert (generation.generator, generation.model, generation.temperature) == ("llm", "gpt-4o-mini", 0.7)
    assert generation.prompt_version == prompt_version() and generation.malformed_replies == 1
    assert generation.calls == manifest.extracts == len(server.requests)
    assert generation.tokens["total_tokens"] == 60 * generation.calls
    assert generation.stats["extracts_malformed"] == 1 and generation.stats["pairs"] == 2 * (manifest.extracts - 1)
    store = open_object_store(settings)
    pairs = [
        json.loads(line) for line in store.get_bytes(layout.preference_key(manifest.version, "train")).splitlines()
    ]
    assert pairs and {p["rejected_by"] for p in pairs} == {"llm"}
    assert all(p["chosen"] != p["rejected"] for p in pairs)
    sft = [json.loads(line) for line in store.get_bytes(layout.sft_key(manifest.version, "train")).splitlines()]
    assert all(row["generator"] == "llm" for row in sft)
    card = store.get_bytes(layout.card_key(manifest.version)).decode()
    assert "gpt-4o-mini" in card and prompt_version() in card
