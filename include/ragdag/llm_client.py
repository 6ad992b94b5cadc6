"""A small client for any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, TGI,
LiteLLM), for JSON replies validated with pydantic.

The endpoint comes from the Airflow connection ``llm_default`` (``RAGDAG_LLM_CONN_ID``): host = the
base URL (``https://api.openai.com/v1``, ``http://vllm:8000/v1``; ``/v1`` is added when the path
is empty), password = the API key (optional for local servers), extra ``{"model": "gpt-4o-mini"}``.
No key lives in code or settings.

Request: ``POST <base>/chat/completions`` with ``model``, ``messages``, ``temperature`` and
``response_format={"type": "json_object"}``; reply: ``choices[0].message.content`` (the JSON text)
and ``usage.{prompt_tokens, completion_tokens, total_tokens}``.

- **Retries**: 429, 5xx, timeouts and connection errors are retried with exponential backoff
  (``Retry-After`` honoured), at most ``max_retries`` times; other 4xx fail at once.
- **Malformed replies** (not JSON, or not the schema): :class:`LlmMalformedReply`, counted in
  :attr:`LlmClient.usage`; the caller decides to drop the item. Their tokens still count.
- **Concurrency**: at most ``concurrency`` requests in flight per client, whatever the callers'
  threads; :meth:`LlmClient.map_json` runs a list of requests on that many threads.
- **Token budget**: a call starts only while the tokens used stay below ``token_budget``; past it
  :class:`LlmBudgetExhausted` is raised. Calls already in flight finish, so a run may overshoot by
  at most ``concurrency`` replies.

The dataset stage's ``llm`` generator and the training stage's LLM judge share this client.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr, ValidationError

if TYPE_CHECKING:
    import httpx

    from ragdag.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
Message = dict[str, str]
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0


class LlmError(RuntimeError):
    """Base of the errors a caller may want to count rather than crash on."""


class LlmConfigError(LlmError):
    """The connection is missing or incomplete: says what to set."""


class LlmRequestFailed(LlmError):
    """The endpoint kept failing (after retries) or refused the request."""


class LlmMalformedReply(LlmError):
    """The reply was not the JSON object the schema describes."""


class LlmBudgetExhausted(LlmError):
    """The token budget of this client is spent; no new request is started."""


class LlmEndpoint(BaseModel):
    base_url: str
    model: str
    api_key: SecretStr | None = None

    @property
    def completions_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/chat/completions"


@dataclass
class LlmUsage:
    """What a client spent and saw; safe to read from any thread after the calls."""

    calls: int = 0
    retries: int = 0
    malformed: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    budget_exhausted: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_tokens(self, usage: dict[str, Any] | None) -> None:
        usage = usage or {}
        with self._lock:
            self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.completion_tokens += int(usage.get("completion_tokens") or 0)
            total = usage.get("total_tokens")
            self.total_tokens += (
                int(total)
                if total is not None
                else (int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0))
            )

    def count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


def base_url_of(host: str, port: int | None = None, scheme: str | None = None) -> str:
    """``api.openai.com`` / ``http://vllm:8000`` / ``http://ollama:11434/v1`` -> the API base URL."""
    url = host.strip() if "://" in host else f"{scheme if scheme in ('http', 'https') else 'https'}://{host.strip()}"
    parts = urlsplit(url)
    netloc = parts.netloc if port is None or parts.port is not None else f"{parts.netloc}:{port}"
    return f"{parts.scheme}://{netloc}/{parts.path.strip('/') or 'v1'}"


def endpoint_from_connection(conn_id: str) -> LlmEndpoint:
    """The endpoint of Airflow connection ``conn_id`` (host, password = key, extra model)."""
    from ragdag.stores.connections import find_connection

    conn = find_connection(conn_id)
    if conn is None:
        raise LlmConfigError(
            f"the llm generator needs the Airflow connection {conn_id!r}: host = the base URL of an "
            'OpenAI-compatible endpoint, password = its API key, extra = {"model": "..."} '
            '(e.g. AIRFLOW_CONN_LLM_DEFAULT=\'{"conn_type": "http", "host": "https://api.openai.com/v1", '
            '"password": "sk-...", "extra": {"model": "gpt-4o-mini"}}\'); or set RAGDAG_DATASET_GENERATOR=offline'
        )
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else json.loads(conn.extra or "{}")
    model = extra.get("model")
    if not conn.host or not model:
        raise LlmConfigError(f"connection {conn_id!r} needs a host (base URL) and extra.model")
    base_url = base_url_of(conn.host, conn.port, conn.schema)
    return LlmEndpoint(base_url=base_url, model=str(model), api_key=SecretStr(conn.password) if conn.password else None)


class LlmClient:
    """Chat completions with JSON replies, retries, a concurrency limit and a token budget."""

    def __init__(
        self,
        endpoint: LlmEndpoint,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        concurrency: int = 4,
        token_budget: int | None = None,
        temperature: float = 0.7,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx

        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.concurrency = concurrency
        self.token_budget = token_budget
        self.temperature = temperature
        self.usage = LlmUsage()
        self._slots = threading.BoundedSemaphore(concurrency)
        headers = {"Content-Type": "application/json"}
        if endpoint.api_key is not None:
            headers["Authorization"] = f"Bearer {endpoint.api_key.get_secret_value()}"
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            headers=headers,
            transport=transport,
            limits=httpx.Limits(max_connections=concurrency),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LlmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def model(self) -> str:
        return self.endpoint.model

    def _check_budget(self) -> None:
        if self.token_budget is not None and self.usage.total_tokens >= self.token_budget:
            self.usage.budget_exhausted = True
            raise LlmBudgetExhausted(
                f"token budget of {self.token_budget} spent ({self.usage.total_tokens} used); "
                "raise RAGDAG_LLM_TOKEN_BUDGET to generate more"
            )

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(MAX_BACKOFF_S, max(0.0, float(retry_after)))
            except ValueError:
                pass
        return min(MAX_BACKOFF_S, self.backoff_s * 2**attempt)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            retry_after: str | None = None
            try:
                response = self._http.post(self.endpoint.completions_url, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as error:
                if last:
                    raise LlmRequestFailed(
                        f"{self.endpoint.completions_url}: {type(error).__name__} after "
                        f"{attempt + 1} attempts ({error})"
                    ) from error
                reason = type(error).__name__
            else:
                if response.status_code < 300:
                    try:
                        return response.json()
                    except ValueError as error:
                        raise LlmMalformedReply(f"the reply body is not JSON: {response.text[:200]!r}") from error
                if response.status_code not in RETRY_STATUSES or last:
                    raise LlmRequestFailed(
                        f"{self.endpoint.completions_url} answered HTTP {response.status_code}"
                        f"{' after retries' if last else ''}: {response.text[:300]}"
                    )
                reason = f"HTTP {response.status_code}"
                retry_after = response.headers.get("retry-after")
            delay = self._delay(attempt, retry_after)
            self.usage.count("retries")
            log.info("LLM request: %s, retry %d/%d in %.1fs", reason, attempt + 1, self.max_retries, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def chat_json(self, messages: Sequence[Message], schema: type[T], *, temperature: float | None = None) -> T:
        """One completion whose reply must be a JSON object matching ``schema``."""
        self._check_budget()
        body = {
            "model": self.endpoint.model,
            "messages": list(messages),
            "temperature": self.temperature if temperature is None else temperature,
            "response_format": {"type": "json_object"},
        }
        with self._slots:
            self._check_budget()
            self.usage.count("calls")
            try:
                reply = self._post(body)
            except LlmMalformedReply:
                self.usage.count("malformed")
                raise
            except LlmRequestFailed:
                self.usage.count("failed")
                raise
        self.usage.add_tokens(reply.get("usage") if isinstance(reply, dict) else None)
        try:
            content = reply["choices"][0]["message"]["content"]
            return schema.model_validate_json(content)
        except (KeyError, IndexError, TypeError, ValidationError, ValueError) as error:
            self.usage.count("malformed")
            raise LlmMalformedReply(f"the reply is not a {schema.__name__} JSON object: {error}") from error

    def map_json(
        self,
        requests: Sequence[Sequence[Message]],
        schema: type[T],
        *,
        on_result: Callable[[int, T | LlmError], None] | None = None,
    ) -> list[T | LlmError]:
        """``chat_json`` for each request, ``concurrency`` at a time, in request order.

        An item that fails (malformed, refused, budget spent) holds its error instead of a reply;
        once the budget is spent the remaining items are not sent.
        """

        def one(index: int) -> T | LlmError:
            try:
                result: T | LlmError = self.chat_json(requests[index], schema)
            except LlmError as error:
                result = error
            if on_result is not None:
                on_result(index, result)
            return result

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="llm") as pool:
            return list(pool.map(one, range(len(requests))))


def open_llm_client(settings: Settings, *, token_budget: int | None = None, **overrides: Any) -> LlmClient:
    """A client for the connection ``settings.llm_conn_id`` with the settings' limits."""
    return LlmClient(
        endpoint_from_connection(settings.llm_conn_id),
        timeout_s=overrides.pop("timeout_s", settings.llm_timeout_s),
        max_retries=overrides.pop("max_retries", settings.llm_max_retries),
        concurrency=overrides.pop("concurrency", settings.llm_concurrency),
        token_budget=settings.llm_token_budget if token_budget is None else token_budget,
        temperature=overrides.pop("temperature", settings.llm_temperature),
        **overrides,
    )


def chat_json(settings: Settings, messages: Sequence[Message], schema: type[T], **kwargs: Any) -> T:
    """One JSON completion with a fresh client (for one-off calls; reuse a client for many)."""
    with open_llm_client(settings) as client:
        return client.chat_json(messages, schema, **kwargs)
