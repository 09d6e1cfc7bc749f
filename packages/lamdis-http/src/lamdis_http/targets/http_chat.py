"""The ``http_chat`` target: an assistant behind a JSON-over-HTTP chat endpoint.

Wire contract (lamdis-runs compatible): each user turn is one
``POST {baseUrl}{path}`` with the JSON body ``{message, transcript, persona?}``, where
``transcript`` is the conversation so far as ``[{role, content, personaId?}]``; the answer is
a JSON object whose ``reply`` field (or the dotted ``replyPath`` of the assistant file) holds
the reply text.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from lamdis_core.config.interpolation import MISSING, interpolate_env, lookup
from lamdis_core.domain.config import Assistant
from lamdis_core.domain.errors import (
    ConfigError,
    ConfigProblem,
    InterpolationError,
    LamdisError,
    TargetError,
)
from lamdis_core.logs import get_logger
from lamdis_core.masking import SecretMasker
from lamdis_core.ports.target import AuthHeaders, TurnReply, TurnRequest, traceparent
from lamdis_core.ratelimit import THROTTLING_STATUSES, HostLimits
from lamdis_core.retry import parse_retry_after
from lamdis_core.sanitize import MAX_JSON_DEPTH, TooDeepError, loads_bounded
from lamdis_core.tracing import record_http
from yarl import URL

from lamdis_http._session import (
    DEFAULT_POOL_LIMIT,
    LazySession,
    excerpt,
    safe_url,
)

logger = get_logger()

CHANNEL = "http_chat"
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_DEFAULT_REPLY_PATH = "reply"
MAX_REDIRECTS = 5
"""Redirects followed for one turn; a chat endpoint that needs more is misconfigured."""


class HttpChatTargetFactory:
    """Makes :class:`HttpChatTarget` s that share one pooled ``aiohttp`` session.

    The session is created on the first turn, inside the running loop, and closed by
    :meth:`aclose`; closing a target leaves the pool open for the others.

    Args:
        pool_limit: the most connections open at once, over all targets of this factory.
        limits: the adaptive per-host concurrency limits its targets share (default: a new
            set, starting at 4 per host and growing to ``pool_limit``).
    """

    channel = CHANNEL

    def __init__(
        self, *, pool_limit: int = DEFAULT_POOL_LIMIT, limits: HostLimits | None = None
    ) -> None:
        self._session = LazySession(limit=pool_limit)
        self.limits = limits if limits is not None else HostLimits(maximum=pool_limit)

    def create(
        self, assistant: Assistant, auth_headers: AuthHeaders, env: Mapping[str, str]
    ) -> HttpChatTarget:
        """Build the target for ``assistant``.

        ``${NAME}`` references in ``env.baseUrl`` and ``env.headers`` are read from ``env``
        now, so a missing variable stops the run before the first turn.

        Raises:
            ConfigError: no ``baseUrl``, or an environment variable it names is not set.
        """
        problems: list[ConfigProblem] = []

        def resolve(value: str, json_path: str) -> str:
            try:
                return str(interpolate_env(value, env, strict=True))
            except InterpolationError as exc:
                problems.append(
                    ConfigProblem(
                        file=assistant.id,
                        json_path=json_path,
                        message=f"{exc}; export it or remove the reference",
                    )
                )
                return ""

        base_url = ""
        if not assistant.env.base_url:
            problems.append(
                ConfigProblem(
                    file=assistant.id,
                    json_path="$.env.baseUrl",
                    message="the http_chat channel needs env.baseUrl, e.g. "
                    '"baseUrl": "https://bot.example.com"',
                )
            )
        else:
            count = len(problems)
            base_url = resolve(assistant.env.base_url, "$.env.baseUrl").rstrip("/")
            if not base_url and len(problems) == count:
                problems.append(
                    ConfigProblem(
                        file=assistant.id,
                        json_path="$.env.baseUrl",
                        message=f"{assistant.env.base_url!r} resolves to an empty URL; is the "
                        "environment variable it names set to an empty value?",
                    )
                )
            elif base_url and not base_url.startswith(("http://", "https://")):
                problems.append(
                    ConfigProblem(
                        file=assistant.id,
                        json_path="$.env.baseUrl",
                        message=f"expected an http:// or https:// URL, got {base_url!r}",
                    )
                )
        headers = {
            name: resolve(value, f"$.env.headers.{name}")
            for name, value in assistant.env.headers.items()
        }
        if assistant.env.timeout_ms <= 0:
            problems.append(
                ConfigProblem(
                    file=assistant.id,
                    json_path="$.env.timeoutMs",
                    message=f"expected a positive number of ms, got {assistant.env.timeout_ms}",
                )
            )
        if problems:
            raise ConfigError(problems)
        path = assistant.effective_path
        if not path.startswith("/"):
            path = "/" + path
        return HttpChatTarget(
            session=self._session,
            url=base_url + path,
            headers=headers,
            auth_headers=auth_headers,
            timeout_s=assistant.env.timeout_ms / 1000,
            reply_path=assistant.effective_reply_path or _DEFAULT_REPLY_PATH,
            assistant_id=assistant.id,
            limits=self.limits,
        )

    async def aclose(self) -> None:
        """Close the shared session and its connections."""
        await self._session.aclose()


class HttpChatTarget:
    """One assistant reached over ``http_chat``. Made by :class:`HttpChatTargetFactory`."""

    def __init__(
        self,
        *,
        session: LazySession,
        url: str,
        headers: Mapping[str, str],
        auth_headers: AuthHeaders,
        timeout_s: float,
        reply_path: str,
        assistant_id: str,
        limits: HostLimits | None = None,
    ) -> None:
        self._session = session
        self.url = url
        parsed = URL(url)
        self._limit = (limits or HostLimits()).for_host(
            f"{parsed.scheme}://{parsed.host}:{parsed.port}"
        )
        self._display_url = safe_url(url)
        self._headers = dict(headers)
        self._auth_headers = auth_headers
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._timeout_s = timeout_s
        self.reply_path = reply_path
        self.assistant_id = assistant_id

    async def send(self, turn: TurnRequest) -> TurnReply:
        """POST one user turn and return the reply; see the Target port for the errors."""
        where = f"POST {self._display_url}"
        headers = dict(self._headers)
        try:
            headers.update(await self._auth_headers())
        except TargetError:
            raise
        except LamdisError as exc:
            # An OAuth token fetch that failed is this turn's failure; keep its retryability so
            # the engine's retry policy covers a token endpoint that hiccups.
            raise TargetError(
                f"{where}: could not get the auth headers: {exc}",
                retryable=bool(getattr(exc, "retryable", False)),
            ) from exc
        if turn.conversation_id:
            headers["traceparent"] = traceparent(turn.conversation_id, secrets.token_hex(8))
        body = _request_body(turn)
        session = self._session.get()
        try:
            # The host's adaptive limit; the engine keeps the wait off this turn's clock.
            async with self._limit.slot() as slot:
                started = time.perf_counter()
                async with session.post(
                    self.url,
                    json=body,
                    headers=headers,
                    timeout=self._timeout,
                    max_redirects=MAX_REDIRECTS,
                ) as response:
                    raw = await response.read()
                    status = response.status
                    record_http("POST", self.url, status)
                    content_type = response.headers.get("Content-Type", "")
                    retry_after_header = response.headers.get("Retry-After")
                if status in THROTTLING_STATUSES:
                    slot.throttled(parse_retry_after(retry_after_header))
                elif status >= 500:
                    slot.failed()
        except TimeoutError as exc:
            raise TargetError(
                f"{where}: no reply within {self._timeout_s:g} s (env.timeoutMs); "
                "the assistant may be overloaded or hanging",
                retryable=True,
            ) from exc
        except aiohttp.InvalidURL as exc:
            raise TargetError(f"{where}: not a valid URL") from exc
        except ValueError as exc:
            # aiohttp refuses a request it cannot build (credentials both in the URL and in an
            # Authorization header, a newline in a header); its messages name no header value.
            raise TargetError(f"{where}: the request could not be built: {exc}") from exc
        except aiohttp.ClientPayloadError as exc:
            raise TargetError(
                f"{where}: the connection broke while reading the reply ({exc})", retryable=True
            ) from exc
        except aiohttp.ClientConnectionError as exc:
            raise TargetError(
                f"{where}: could not connect ({_describe(exc)}); is the assistant running "
                "and is env.baseUrl right?",
                retryable=True,
            ) from exc
        except aiohttp.TooManyRedirects as exc:
            raise TargetError(
                f"{where}: still redirected after {MAX_REDIRECTS} redirects (last to "
                f"{safe_url(exc.request_info.real_url)}); point env.baseUrl at the endpoint "
                "itself",
            ) from exc
        except aiohttp.ClientError as exc:
            raise TargetError(f"{where}: {type(exc).__name__}: {exc}") from exc
        latency_ms = (time.perf_counter() - started) * 1000

        if not 200 <= status < 300:
            retryable = status in RETRYABLE_STATUSES
            retry_after = parse_retry_after(retry_after_header) if retryable else None
            raise TargetError(
                f"{where} answered HTTP {status}: {_redact(excerpt(raw), headers)}",
                retryable=retryable,
                retry_after=retry_after,
                status=status,
            )
        try:
            payload: Any = loads_bounded(raw)
        except TooDeepError as exc:
            raise TargetError(
                f"{where} answered HTTP {status} with JSON nested deeper than "
                f"{MAX_JSON_DEPTH} levels; lamdis does not read replies that deep",
                status=status,
            ) from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            shown = content_type or "no content-type"
            raise TargetError(
                f"{where} answered HTTP {status} with a body that is not JSON ({shown}): "
                f"{_redact(excerpt(raw), headers)}",
                status=status,
            ) from exc
        reply_path = turn.reply_path or self.reply_path
        reply = lookup(payload, reply_path)
        if reply is MISSING:
            if isinstance(payload, dict):
                names = sorted(str(key) for key in payload)
                keys = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
            else:
                keys = type(payload).__name__
            raise TargetError(
                f"{where}: the JSON reply has no {reply_path!r} field (found: {keys or 'nothing'}); "
                "set replyPath in the assistant file (or responseFieldPath) if the reply is "
                "elsewhere",
                status=status,
            )
        if not isinstance(reply, str):
            raise TargetError(
                f"{where}: {reply_path!r} is a {type(reply).__name__}, expected a string: "
                f"{excerpt(json.dumps(reply))}",
                status=status,
            )
        if not reply.strip():
            raise TargetError(
                f"{where}: {reply_path!r} is empty; an assistant that says nothing cannot "
                "pass a test",
                status=status,
            )
        return TurnReply(text=reply, latency_ms=latency_ms, raw=payload, tokens=_tokens(payload))

    async def aclose(self) -> None:
        """Nothing to release: connections belong to the factory's pool."""


def _request_body(turn: TurnRequest) -> dict[str, Any]:
    # System messages a test injects already travel in the transcript (role "system"), so the
    # body stays exactly the lamdis-runs contract.
    transcript: list[dict[str, Any]] = []
    for entry in turn.transcript:
        item: dict[str, Any] = {"role": entry["role"], "content": entry["content"]}
        persona_id = entry.get("personaId") or entry.get("persona_id")
        if persona_id:
            item["personaId"] = persona_id
        transcript.append(item)
    body: dict[str, Any] = {"message": turn.message, "transcript": transcript}
    if turn.persona:
        body["persona"] = turn.persona
    # assistantInputMappings (a conversation id...) go beside the contract's fields; they may
    # replace them too, as in the newer lamdis.
    body.update(turn.extra)
    return body


def _redact(text: str, headers: Mapping[str, str]) -> str:
    """Mask header values (tokens, keys) that a server echoed back into its error body."""
    return SecretMasker(headers.values()).mask(text)


def _tokens(payload: Any) -> int:
    """Token count when the assistant reports an OpenAI-style ``usage`` block; else 0."""
    usage = payload.get("usage") if isinstance(payload, dict) else None
    if isinstance(usage, dict):
        total = usage.get("total_tokens", usage.get("totalTokens"))
        if isinstance(total, int) and not isinstance(total, bool):
            return total
    return 0


def _describe(exc: aiohttp.ClientConnectionError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return exc.strerror or type(exc).__name__
    return str(exc) or type(exc).__name__
