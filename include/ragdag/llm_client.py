"""Structured JSON replies from any OpenAI-compatible chat-completions server, through the ``openai`` SDK.

The endpoint comes from the Airflow connection ``llm_default`` (``RAGDAG_LLM_CONN_ID``): host = the
base URL (``https://api.openai.com/v1``, ``http://vllm:8000/v1``; ``/v1`` is added when the path
is empty), password = the API key (optional for local servers), extra ``{"model": "gpt-4o-mini"}``
and, for llama-cpp-python's server, ``"response_format": "json_object"`` (below). No key lives in
code or settings.

Every request carries ``max_tokens`` (``RAGDAG_LLM_MAX_TOKENS``), a ``seed`` and a JSON schema the
server enforces while it decodes (structured outputs), made from the pydantic model the caller
wants back: ``response_format={"type": "json_schema", "json_schema": {"name", "schema", "strict":
true}}``, which OpenAI, vLLM and llama.cpp's ``llama-server`` read. llama-cpp-python's server
(0.3.x) knows only ``{"type": "json_object", "schema": ...}``, the form the connection's
``"response_format": "json_object"`` selects; it enforces the schema the same way (a grammar).

- **Retries** are the SDK's: 408, 409, 429, 5xx, timeouts and connection errors, with exponential
  backoff and ``Retry-After`` honoured, at most ``max_retries`` times; other 4xx fail at once
  (:class:`LlmRequestFailed`). :attr:`LlmUsage.retries` counts them.
- **Malformed replies** (not the schema; cut at ``max_tokens``: :class:`LlmTruncatedReply`):
  :class:`LlmMalformedReply`, counted; the caller decides to drop the item. Their tokens count.
- **Concurrency**: at most ``concurrency`` requests in flight per client, whatever the callers'
  threads; :meth:`LlmClient.map_json` runs a list of requests on that many threads. A server that
  decodes one request at a time (llama-cpp-python's) wants 1, or queued requests time out.
- **Token budget**: a call starts only while the tokens used stay below ``token_budget``; past it
  :class:`LlmBudgetExhausted` is raised. Calls already in flight finish, so a run may overshoot by
  at most ``concurrency`` replies.

The dataset stage's ``llm`` generator and the training stage's LLM judge share this client.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr, ValidationError

from ragdag.errors import PermanentError

if TYPE_CHECKING:
    from ragdag.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
Message = dict[str, str]
ResponseFormat = Literal["json_schema", "json_object"]
# An API key the SDK insists on; local servers without one ignore it.
_NO_KEY = "unused"


class LlmError(RuntimeError):
    """Base of the errors a caller may want to count rather than crash on."""


class LlmPermanentError(LlmError, PermanentError):
    """A retry cannot fix it: the DAG fails without retries and the message says what to change."""


class LlmConfigError(LlmPermanentError):
    """The connection is missing or incomplete: says what to set."""


class LlmRequestFailed(LlmError):
    """The endpoint kept failing (after retries) or refused the request."""


class LlmMalformedReply(LlmError):
    """The reply was not the JSON object the schema describes."""


class LlmTruncatedReply(LlmMalformedReply):
    """The reply was cut at ``max_tokens`` before its JSON ended."""


class LlmBudgetExhausted(LlmError):
    """The token budget of this client is spent; no new request is started."""


class LlmEndpoint(BaseModel):
    base_url: str
    model: str
    api_key: SecretStr | None = None
    response_format: ResponseFormat = "json_schema"


@dataclass
class LlmUsage:
    """What a client spent and saw; safe to read from any thread after the calls."""

    calls: int = 0
    retries: int = 0
    malformed: int = 0
    truncated: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    budget_exhausted: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_tokens(self, prompt: int, completion: int, total: int | None = None) -> None:
        with self._lock:
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            self.total_tokens += prompt + completion if total is None else total

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
    response_format = extra.get("response_format", "json_schema")
    if response_format not in ("json_schema", "json_object"):
        raise LlmConfigError(
            f'connection {conn_id!r}: extra.response_format is {response_format!r}; use "json_schema" (OpenAI, '
            "vLLM, llama.cpp's llama-server) or \"json_object\" (llama-cpp-python's server)"
        )
    return LlmEndpoint(
        base_url=base_url_of(conn.host, conn.port, conn.schema),
        model=str(model),
        api_key=SecretStr(conn.password) if conn.password else None,
        response_format=response_format,
    )


def json_schema_of(schema: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of a pydantic model in the form strict structured outputs accept: every
    object closed (``additionalProperties: false``) with all its properties required, no defaults."""

    def strict(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: strict(v) for k, v in node.items() if k != "default"}
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            return node
        if isinstance(node, list):
            return [strict(v) for v in node]
        return node

    return strict(schema.model_json_schema())


class LlmClient:
    """Chat completions with schema-enforced JSON replies, a concurrency limit and a token budget."""

    def __init__(
        self,
        endpoint: LlmEndpoint,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        concurrency: int = 4,
        token_budget: int | None = None,
        temperature: float = 0.7,
        max_tokens: int = 2048,
        seed: int = 42,
    ) -> None:
        import openai

        self.endpoint = endpoint
        self.concurrency = concurrency
        self.token_budget = token_budget
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.usage = LlmUsage()
        self._slots = threading.BoundedSemaphore(concurrency)
        http = openai.DefaultHttpxClient(event_hooks={"request": [self._count_retry]})
        self._openai = openai.OpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key.get_secret_value() if endpoint.api_key else _NO_KEY,
            timeout=timeout_s,
            max_retries=max_retries,
            http_client=http,
        )

    def _count_retry(self, request: Any) -> None:
        # The SDK numbers its attempts in this header; any attempt but the first is a retry.
        if request.headers.get("x-stainless-retry-count", "0") != "0":
            self.usage.count("retries")
            log.info("LLM request retried (attempt %s)", int(request.headers["x-stainless-retry-count"]) + 1)

    def close(self) -> None:
        self._openai.close()

    def __enter__(self) -> LlmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def model(self) -> str:
        return self.endpoint.model

    def generation_params(self) -> dict[str, Any]:
        """What shapes a reply besides the messages (for cache keys and manifests)."""
        return {
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "response_format": self.endpoint.response_format,
        }

    def _check_budget(self) -> None:
        if self.token_budget is not None and self.usage.total_tokens >= self.token_budget:
            self.usage.budget_exhausted = True
            raise LlmBudgetExhausted(
                f"token budget of {self.token_budget} spent ({self.usage.total_tokens} used); "
                "raise RAGDAG_LLM_TOKEN_BUDGET to generate more"
            )

    def _response_format(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        if self.endpoint.response_format == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}

    def _complete(self, body: dict[str, Any]) -> Any:
        import openai

        try:
            return self._openai.chat.completions.create(**body)
        except openai.APIStatusError as error:
            raise LlmRequestFailed(
                f"{self.endpoint.base_url}/chat/completions answered HTTP {error.status_code}: {str(error)[:300]}"
            ) from error
        except openai.APIConnectionError as error:  # timeouts included, after the SDK's retries
            raise LlmRequestFailed(f"{self.endpoint.base_url}/chat/completions: {type(error).__name__}") from error

    def chat_json(
        self,
        messages: Sequence[Message],
        schema: type[T],
        *,
        json_schema: dict[str, Any] | None = None,
        temperature: float | None = None,
    ) -> T:
        """One completion whose reply the server holds to ``schema`` (or ``json_schema``, a stricter
        form of it) and that is validated with ``schema``."""
        self._check_budget()
        body = {
            "model": self.endpoint.model,
            "messages": list(messages),
            "temperature": self.temperature if temperature is None else temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "response_format": self._response_format(schema.__name__, json_schema or json_schema_of(schema)),
        }
        with self._slots:
            self._check_budget()
            self.usage.count("calls")
            try:
                reply = self._complete(body)
            except LlmRequestFailed:
                self.usage.count("failed")
                raise
        usage = getattr(reply, "usage", None)
        if usage is not None:
            self.usage.add_tokens(usage.prompt_tokens or 0, usage.completion_tokens or 0, usage.total_tokens)
        try:
            choice = reply.choices[0]
            content = choice.message.content
            if choice.finish_reason == "length":
                self.usage.count("truncated")
                raise LlmTruncatedReply(
                    f"the reply was cut at max_tokens={self.max_tokens} before its JSON ended; "
                    "raise RAGDAG_LLM_MAX_TOKENS or ask for fewer pairs (RAGDAG_LLM_PAIRS_PER_EXTRACT)"
                )
            return schema.model_validate_json(content or "")
        except LlmTruncatedReply:
            self.usage.count("malformed")
            raise
        except (AttributeError, IndexError, TypeError, ValidationError, ValueError) as error:
            self.usage.count("malformed")
            raise LlmMalformedReply(f"the reply is not a {schema.__name__} JSON object: {error}") from error

    def map_json(
        self,
        requests: Sequence[Sequence[Message]],
        schema: type[T],
        *,
        json_schemas: Sequence[dict[str, Any]] | None = None,
        on_result: Callable[[int, T | LlmError], None] | None = None,
    ) -> list[T | LlmError]:
        """``chat_json`` for each request (with its own entry of ``json_schemas``, when given),
        ``concurrency`` at a time, in request order.

        An item that fails (malformed, refused, budget spent) holds its error instead of a reply;
        once the budget is spent the remaining items are not sent.
        """

        def one(index: int) -> T | LlmError:
            json_schema = None if json_schemas is None else json_schemas[index]
            try:
                result: T | LlmError = self.chat_json(requests[index], schema, json_schema=json_schema)
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
        max_tokens=overrides.pop("max_tokens", settings.llm_max_tokens),
        seed=overrides.pop("seed", settings.dataset_seed),
        **overrides,
    )
