"""The LLM judge against a local OpenAI-compatible server started here (a hosted LLM cannot run
in the tests): the documented chat-completions request, JSON verdicts, a malformed one dropped."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ragdag.training.evaluation import EvaluationOptions, evaluate_model
from ragdag.training.train import init_tiny_model, train_tokenizer

ROWS = [
    {
        "instruction": "Explain why deterministic identifiers make re-runs safe.",
        "output": "Deriving each point identifier from the document, the chunk position and the content hash.",
    },
    {
        "instruction": "Explain what a validation gate does.",
        "output": "It catches broken pages, quarantines them and keeps the rest of the batch moving.",
    },
    {
        "instruction": "Explain incremental processing.",
        "output": "Unchanged documents are skipped: an hour-long job becomes a few seconds of bookkeeping.",
    },
]


@pytest.fixture
def judge_server(monkeypatch):
    requests: list[dict] = []
    replies = [
        {"accuracy": {"analysis": "mostly right", "score": 2}, "style": {"analysis": "plain", "score": 3}},
        "this is not JSON",
        {"accuracy": {"analysis": "wrong", "score": 1}, "style": {"analysis": "ok", "score": 2}},
    ]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answer = body["messages"][0]["content"]
            index = next(i for i, r in enumerate(ROWS) if r["instruction"] in answer)
            requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            content = replies[index] if isinstance(replies[index], str) else json.dumps(replies[index])
            data = json.dumps(
                {
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 300, "completion_tokens": 40, "total_tokens": 340},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_LLM_DEFAULT",
        json.dumps(
            {
                "conn_type": "http",
                "host": f"http://127.0.0.1:{server.server_port}/v1",
                "password": "sk-test",
                "extra": {"model": "judge-model"},
            }
        ),
    )
    try:
        yield requests
    finally:
        server.shutdown()
        server.server_close()


def test_the_judge_scores_accuracy_and_style_and_drops_a_malformed_verdict(settings, judge_server) -> None:
    from ragdag.training.service import _judge_client

    tokenizer = train_tokenizer([r["instruction"] + r["output"] for r in ROWS] * 5, 400)
    model = init_tiny_model(tokenizer, seed=1, max_seq_length=256).eval()
    options = EvaluationOptions(prompt_template="alpaca", max_seq_length=256, generations=3, max_new_tokens=4)
    judge = _judge_client(settings)
    assert judge is not None, "the llm_default connection turns the judge on"
    with judge:
        result = evaluate_model(model, tokenizer, ROWS, options, judge)

    metrics = result["metrics"]
    assert metrics["judge_accuracy"] == pytest.approx(1.5) and metrics["judge_style"] == pytest.approx(2.5)
    assert metrics["judge_unparsed"] == 1
    assert [("judge" in g) for g in result["generations"]] == [True, False, True]
    assert len(judge_server) == 3
    request = judge_server[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    body = request["body"]
    assert body["model"] == "judge-model" and body["temperature"] == 0.0
    assert (body["max_tokens"], body["seed"]) == (settings.llm_max_tokens, settings.dataset_seed)
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema" and response_format["json_schema"]["strict"] is True
    criterion = response_format["json_schema"]["schema"]["$defs"]["JudgedCriterion"]
    assert criterion["properties"]["score"]["enum"] == [1, 2, 3], "the scale is in the schema the server enforces"
    assert "Accuracy scale" in body["messages"][0]["content"] and body["messages"][0]["role"] == "user"


def test_without_the_connection_there_is_no_judge(settings, monkeypatch) -> None:
    from ragdag.training.service import _judge_client

    monkeypatch.delenv("AIRFLOW_CONN_LLM_DEFAULT", raising=False)
    assert _judge_client(settings) is None
