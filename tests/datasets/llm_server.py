"""A local OpenAI-compatible chat-completions server for the tests (a real LLM cannot run here).

It speaks the documented shape: ``POST /v1/chat/completions`` with ``model``, ``messages``,
``temperature``, ``max_tokens``, ``seed`` and ``response_format``; the reply carries
``choices[0].message.content``, ``choices[0].finish_reason`` and ``usage``. It enforces no schema:
it serves the error paths (429, 5xx, timeouts, malformed or cut replies) that a real server
(tests/datasets/test_llm_real_server.py) is not made to produce. Each request takes the next scripted reply (status, JSON content or raw body, delay);
when the script is empty, ``default`` answers (a function of the request body).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    content: Any = None  # a dict is sent as the message content (JSON text); a str as it is
    raw: str | None = None  # a whole body instead of a completion
    delay_s: float = 0.0
    finish_reason: str = "stop"
    headers: dict[str, str] = field(default_factory=dict)
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 40, "completion_tokens": 20, "total_tokens": 60}
    )


@dataclass
class FakeLlm:
    url: str
    script: list[Reply]
    requests: list[dict[str, Any]]
    default: Callable[[dict[str, Any]], Reply] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    max_in_flight: int = 0


def completion(content: Any, usage: dict[str, int], finish_reason: str = "stop") -> dict[str, Any]:
    text = content if isinstance(content, str) else json.dumps(content)
    return {
        "id": "cmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
        "usage": usage,
    }


@contextmanager
def fake_llm(default: Callable[[dict[str, Any]], Reply] | None = None) -> Iterator[FakeLlm]:
    state = FakeLlm(url="", script=[], requests=[], default=default)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.requests.append(
                    {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                )
                reply = state.script.pop(0) if state.script else (state.default or (lambda b: Reply(content={})))(body)
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                time.sleep(reply.delay_s)
                payload = (
                    reply.raw
                    if reply.raw is not None
                    else json.dumps(completion(reply.content, reply.usage, reply.finish_reason))
                )
                data = payload.encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and went away
            finally:
                with state.lock:
                    state.in_flight -= 1

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
