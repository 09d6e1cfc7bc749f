"""What the configurable channels share: templates, sessions, cookies, reading answers.

An assistant file shapes a channel with ``request`` (what each turn sends), ``response``
(where the reply, tool calls and values to keep are) and ``session`` (a request before the
first turn of each conversation, and one after its last). The ``http_chat``, ``sse`` and
``websocket`` targets build on :class:`ChannelTarget`; only how a turn's answer arrives
differs.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlencode

import aiohttp
import attrs
from lamdis_core.config.interpolation import interpolate_env, to_text
from lamdis_core.domain import config as c
from lamdis_core.domain.base import Record, Value
from lamdis_core.domain.config import UNSET
from lamdis_core.domain.errors import (
    ConfigError,
    ConfigProblem,
    InterpolationError,
    LamdisError,
    TargetError,
)
from lamdis_core.jsonpath import JsonPath, compile_path
from lamdis_core.logs import get_logger
from lamdis_core.ports.target import AuthHeaders, ToolCall, TurnReply, TurnRequest, traceparent
from lamdis_core.ratelimit import THROTTLING_STATUSES, HostLimits
from lamdis_core.retry import parse_retry_after
from lamdis_core.sanitize import TooDeepError, loads_bounded
from lamdis_core.template import Compiled, TemplateError, compile_template
from lamdis_core.tool_calls import to_tool_call
from lamdis_core.tracing import record_http
from yarl import URL

from lamdis_http._session import LazySession, safe_url

logger = get_logger()

EXCERPT_BYTES = 500
MAX_REDIRECTS = 5
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_HOSTS_HELD = 256  # URLs whose host limit a target remembers (templated URLs vary per turn)
_OPENAI_TOOL_CALLS = (
    compile_path("$.choices[0].message.tool_calls"),
    compile_path("$.tool_calls"),
    compile_path("$.toolCalls"),
)


def received(raw: bytes | str, secrets_: Mapping[str, str] | list[str] | None = None) -> str:
    """The first 500 bytes received, as text, with known secret values masked."""
    data = raw.encode() if isinstance(raw, str) else raw
    text = data[:EXCERPT_BYTES].decode("utf-8", errors="replace")
    if len(data) > EXCERPT_BYTES:
        text += f"… [{len(data) - EXCERPT_BYTES} more bytes]"
    if not data:
        text = "<nothing>"
    return mask(text, secrets_ or [])


def mask(text: str, values: Mapping[str, str] | list[str] | Any) -> str:
    """Replace every secret value (8 characters or more) in ``text`` with ``***``."""
    items = values.values() if isinstance(values, Mapping) else values
    for value in items:
        value = str(value)
        for part in (value, value.partition(" ")[2]):
            if len(part) >= 8 and part in text:
                text = text.replace(part, "***")
    return text


@attrs.define(repr=False, eq=False)
class Conversation(Record):
    """What one conversation holds between turns."""

    id: str
    session: dict[str, Any] = attrs.Factory(dict)
    cookies: dict[str, str] = attrs.Factory(dict)
    started: bool = False
    socket: Any = None  # the websocket channel's open connection


@attrs.frozen(repr=False, eq=False)
class Reading(Value):
    """A compiled response map."""

    format: str
    reply: JsonPath
    tool_calls: JsonPath | None
    keep: Mapping[str, c.KeepValue]
    error: c.Condition | None


def condition_holds(condition: c.Condition, document: Any) -> tuple[bool, Any]:
    """Whether ``condition`` holds on ``document``, and the value its path found."""
    found = compile_path(condition.path).find(document)
    value = found[0] if found else None
    if condition.exists is False:
        return not found, value
    if not found:
        return False, None
    if condition.equals is not UNSET and value != condition.equals:
        return False, value
    if condition.matches is not None and re.search(condition.matches, to_text(value)) is None:
        return False, value
    return True, value


def describe_condition(condition: c.Condition) -> str:
    if condition.exists is False:
        return f"{condition.path} is absent"
    parts = [condition.path]
    if condition.equals is not UNSET:
        parts.append(f"== {json.dumps(condition.equals)}")
    if condition.matches is not None:
        parts.append(f"matches /{condition.matches}/")
    return " ".join(parts) if len(parts) > 1 else f"{condition.path} exists"


def tool_calls_in(document: Any, path: JsonPath | None) -> list[ToolCall]:
    """Tool calls at ``path``, or where OpenAI puts them when no path is given."""
    if path is not None:
        found = path.find(document)
        items: Any = found[0] if len(found) == 1 and isinstance(found[0], list) else found
    else:
        items = next((p.first(document) for p in _OPENAI_TOOL_CALLS if p.find(document)), [])
    calls: list[ToolCall] = []
    for item in items if isinstance(items, list) else [items]:
        call = to_tool_call(item)
        if call is not None:
            calls.append(call)
    return calls


def default_body(turn: TurnRequest) -> dict[str, Any]:
    """The lamdis-runs body ``{message, transcript, persona?}``."""
    from lamdis_http.targets.http_chat import _request_body

    return _request_body(turn)


def openai_messages(turn: TurnRequest) -> list[dict[str, Any]]:
    """The conversation as OpenAI ``messages``, this turn's message last. System prompts a
    test injected already sit in the transcript; they lead when they are not there."""
    messages: list[dict[str, Any]] = []
    in_transcript = {t["content"] for t in turn.transcript if t.get("role") == "system"}
    messages.extend(
        {"role": "system", "content": text} for text in turn.system if text not in in_transcript
    )
    messages.extend({"role": t["role"], "content": t["content"]} for t in turn.transcript)
    messages.append({"role": "user", "content": turn.message})
    return messages


class TurnValues(dict[str, Any]):
    """What a turn's templates may name. ``transcript`` and ``messages`` are built on first
    use: most templates name neither, and they cost a list per turn that grows with the
    conversation."""

    __slots__ = ("of",)
    of: TurnRequest

    def __missing__(self, key: str) -> Any:
        if key == "transcript":
            value: Any = default_body(self.of)["transcript"]
        elif key == "messages":
            value = openai_messages(self.of)
        else:
            raise KeyError(key)
        self[key] = value
        return value

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return key in _LAZY_VALUES or dict.__contains__(self, key)


_LAZY_VALUES = frozenset({"transcript", "messages"})


@attrs.frozen(repr=False, eq=False)
class _Plan(Value):
    """A request spec worked out once per target: its templates compiled."""

    method: str
    where: str
    url: Compiled
    query: Compiled | None
    headers: Compiled | None
    body: Compiled | None
    sends_body: bool


class ChannelSetup:
    """Reads an assistant's channel options once, resolving ``${ENV}``; collects problems."""

    def __init__(self, assistant: c.Assistant, env: Mapping[str, str], channel: str) -> None:
        self.assistant = assistant
        self.env = env
        self.channel = channel
        self.problems: list[ConfigProblem] = []
        self.secrets: list[str] = []

    def problem(self, json_path: str, message: str) -> None:
        self.problems.append(
            ConfigProblem(file=self.assistant.id, json_path=json_path, message=message)
        )

    def resolve(self, value: Any, json_path: str, *, secret: bool = False) -> Any:
        try:
            resolved = interpolate_env(value, self.env, strict=True)
        except InterpolationError as exc:
            self.problem(json_path, f"{exc}; export it or remove the reference")
            return value
        if secret:
            if isinstance(resolved, Mapping):
                self.secrets.extend(str(v) for v in resolved.values())
            elif isinstance(resolved, str):
                self.secrets.append(resolved)
        return resolved

    def base_url(self, *, required: bool) -> str:
        raw = self.assistant.env.base_url
        if not raw:
            if required:
                self.problem(
                    "$.env.baseUrl",
                    f"the {self.channel} channel needs env.baseUrl (or a full request.url)",
                )
            return ""
        base = str(self.resolve(raw, "$.env.baseUrl")).rstrip("/")
        if base and not base.startswith(("http://", "https://", "ws://", "wss://")):
            self.problem("$.env.baseUrl", f"expected an http(s):// or ws(s):// URL, got {base!r}")
        return base

    def request(self, spec: c.ChannelRequest | None, json_path: str) -> c.ChannelRequest:
        """The request spec with ``${ENV}`` resolved (the lamdis-runs POST when none)."""
        if spec is None:
            return c.ChannelRequest(method="POST", path=self.assistant.effective_path)
        return attrs.evolve(
            spec,
            path=self.resolve(spec.path, f"{json_path}.path"),
            url=self.resolve(spec.url, f"{json_path}.url"),
            query=self.resolve(spec.query, f"{json_path}.query"),
            headers=self.resolve(spec.headers, f"{json_path}.headers", secret=True),
            body=self.resolve(spec.body, f"{json_path}.body"),
        )

    def reading(self, spec: c.ChannelResponse | None) -> Reading:
        spec = spec or c.ChannelResponse()
        default = (
            "$" if spec.format == "text" else (self.assistant.effective_reply_path or "$.reply")
        )
        return Reading(
            format=spec.format,
            reply=compile_path(spec.reply or default),
            tool_calls=compile_path(spec.tool_calls) if spec.tool_calls else None,
            keep=dict(spec.keep),
            error=spec.error,
        )

    def timeout_s(self) -> float:
        if self.assistant.env.timeout_ms <= 0:
            self.problem(
                "$.env.timeoutMs",
                f"expected a positive number of ms, got {self.assistant.env.timeout_ms}",
            )
        return self.assistant.env.timeout_ms / 1000

    def done(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)


@attrs.frozen(repr=False, eq=False)
class Answer(Value):
    """One HTTP answer, read in full."""

    status: int
    headers: Any
    body: bytes
    cookies: dict[str, str | None]


class ChannelTarget:
    """A Target whose requests come from templates and whose conversations keep state.

    Subclasses implement :meth:`send` using :meth:`prepare` and :meth:`call`.
    """

    channel = "http_chat"

    def __init__(
        self,
        *,
        setup: ChannelSetup,
        session: LazySession,
        limits: HostLimits,
        auth_headers: AuthHeaders,
    ) -> None:
        assistant = setup.assistant
        self.assistant_id = assistant.id
        self._session = session
        self._limits = limits
        self._auth_headers = auth_headers
        self.base_url = setup.base_url(required=self._needs_base_url(assistant))
        self._shown_base = safe_url(self.base_url) if self.base_url else ""
        self.env_headers: dict[str, str] = setup.resolve(
            dict(assistant.env.headers), "$.env.headers", secret=True
        )
        self.request = setup.request(assistant.request, "$.request")
        start = assistant.session.start if assistant.session else None
        self.session_start = (
            setup.request(start.request, "$.session.start.request") if start else None
        )
        self.session_keep = dict(start.keep) if start else {}
        self.session_error = start.error if start else None
        close = assistant.session.close if assistant.session else None
        self.session_close = setup.request(close, "$.session.close") if close else None
        self.reading = setup.reading(assistant.response)
        self.timeout_s = setup.timeout_s()
        self._secrets = setup.secrets
        self._conversations: dict[str, Conversation] = {}
        self._plans: dict[int, tuple[c.ChannelRequest, _Plan]] = {}
        # Per target, not per turn: the timeout and each URL's host limit.
        self.client_timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        self._hosts: dict[str, Any] = {}
        self._configure(setup)
        setup.done()

    def _needs_base_url(self, assistant: c.Assistant) -> bool:
        return not (assistant.request and assistant.request.url)

    def _configure(self, setup: ChannelSetup) -> None:
        """Read channel-specific options (subclasses)."""

    async def send(self, turn: TurnRequest) -> TurnReply:
        raise NotImplementedError

    # --- conversations -----------------------------------------------------------------

    def conversation(self, turn: TurnRequest) -> Conversation:
        key = turn.conversation_id or "-"
        found = self._conversations.get(key)
        if found is None:
            found = Conversation(id=turn.conversation_id or secrets.token_hex(16))
            self._conversations[key] = found
        return found

    def secrets_of(self, conversation: Conversation | None) -> list[str]:
        held = list(self._secrets)
        if conversation is not None:
            held.extend(to_text(v) for v in conversation.session.values())
            held.extend(conversation.cookies.values())
        return held

    def values(self, turn: TurnRequest, conversation: Conversation) -> TurnValues:
        values = TurnValues(
            message=turn.message,
            persona=turn.persona or "",
            personaId=turn.persona_id or "",
            turn=turn.turn,
            conversationId=conversation.id,
            session=conversation.session,
            var=turn.variables,
            # assistantInputMappings of the newer lamdis format: {{inputs.conversationId}}.
            inputs=turn.extra,
        )
        values.of = turn
        return values

    async def begin(self, turn: TurnRequest, conversation: Conversation) -> None:
        """Make the session request once per conversation, keeping what it names."""
        if conversation.started:
            return
        if self.session_start is not None:
            values = self.values(turn, conversation)
            method, url, where, kwargs = self.prepare(self.session_start, values, conversation)
            answer = await self.call(method, url, where, kwargs, conversation, "session start")
            document = self.decode(answer, where, conversation, what="session start answer")
            self.check_error(self.session_error, document, answer, where, conversation)
            self.keep(self.session_keep, document, answer, where, conversation)
        conversation.started = True

    async def end_conversation(self, conversation_id: str) -> None:
        conversation = self._conversations.pop(conversation_id or "-", None)
        if conversation is None:
            return
        await self._release(conversation)
        if self.session_close is None or not conversation.started:
            return
        turn = TurnRequest(message="", transcript=[], conversation_id=conversation.id, turn=0)
        try:
            method, url, where, kwargs = self.prepare(
                self.session_close, self.values(turn, conversation), conversation
            )
            answer = await self.call(method, url, where, kwargs, conversation, "session close")
        except (TargetError, TemplateError) as exc:
            logger.warning(
                "session_close_failed",
                assistant=self.assistant_id,
                error=mask(str(exc), self.secrets_of(conversation)),
            )
            return
        if not 200 <= answer.status < 300:
            logger.warning(
                "session_close_failed",
                assistant=self.assistant_id,
                status=answer.status,
                body=received(answer.body, self.secrets_of(conversation)),
            )

    async def _release(self, conversation: Conversation) -> None:
        """Close what a conversation holds open (subclasses)."""

    # --- requests ----------------------------------------------------------------------

    def _plan(self, spec: c.ChannelRequest) -> _Plan:
        found = self._plans.get(id(spec))
        if found is not None and found[0] is spec:
            return found[1]
        method = spec.method.upper()
        shown_target = (
            safe_url(spec.url) if spec.url else f"{self._shown_base}{_slash(spec.path or '')}"
        )
        if spec.url:
            url = compile_template(spec.url)
        else:
            base, path = self.base_url, compile_template(spec.path or "")
            url = lambda values: base + _slash(str(path(values)))  # noqa: E731
        plan = _Plan(
            method=method,
            where=f"{method} {shown_target}",
            url=url,
            query=compile_template(spec.query) if spec.query else None,
            headers=compile_template(spec.headers) if spec.headers else None,
            body=None if spec.body is UNSET else compile_template(spec.body),
            sends_body=method not in ("GET", "HEAD"),
        )
        self._plans[id(spec)] = (spec, plan)
        return plan

    def prepare(
        self, spec: c.ChannelRequest, values: Mapping[str, Any], conversation: Conversation
    ) -> tuple[str, str, str, dict[str, Any]]:
        """Render ``spec``: method, URL, a secret-free description, and aiohttp arguments."""
        plan = self._plan(spec)
        where = plan.where
        try:
            url = str(plan.url(values))
            query = {k: to_text(v) for k, v in plan.query(values).items()} if plan.query else None
            headers = (
                {k: to_text(v) for k, v in plan.headers(values).items()} if plan.headers else {}
            )
            body = UNSET if plan.body is None else plan.body(values)
        except TemplateError as exc:
            raise TargetError(f"{where}: {exc}") from exc
        kwargs: dict[str, Any] = {"headers": headers}
        if query:
            kwargs["params"] = query
        if spec.body is UNSET and spec is self.request and plan.method == "POST":
            turn = values.of if isinstance(values, TurnValues) else _turn_of(values)
            kwargs["json"] = default_body(turn)
        elif body is not UNSET and plan.sends_body:
            if spec.body_format == "form":
                kwargs["data"] = urlencode({k: to_text(v) for k, v in dict(body).items()})
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            elif spec.body_format == "text":
                kwargs["data"] = to_text(body).encode()
                headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            else:
                kwargs["json"] = body
        return plan.method, url, where, kwargs

    async def headers_for(
        self, conversation: Conversation, extra: Mapping[str, str]
    ) -> dict[str, str]:
        """Assistant headers, auth, the conversation's cookies, a traceparent, then ``extra``."""
        headers = dict(self.env_headers)
        try:
            auth = await self._auth_headers()
        except TargetError:
            raise
        except LamdisError as exc:
            raise TargetError(
                f"could not get the auth headers for {self.assistant_id}: {exc}",
                retryable=bool(getattr(exc, "retryable", False)),
            ) from exc
        if auth:
            headers.update(auth)
            self._secrets.extend(v for v in auth.values() if v not in self._secrets)
        if conversation.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in conversation.cookies.items())
        headers["traceparent"] = traceparent(conversation.id, secrets.token_hex(8))
        headers.update(extra)
        return headers

    async def call(
        self,
        method: str,
        url: str,
        where: str,
        kwargs: dict[str, Any],
        conversation: Conversation,
        what: str,
    ) -> Answer:
        """One plain HTTP call through the host's limit; non-2xx becomes a TargetError."""
        async with self.open(method, url, where, kwargs, conversation) as (response, _):
            body = await response.read()
            return self.answered(response, body, where, conversation, what)

    def open(
        self,
        method: str,
        url: str,
        where: str,
        kwargs: dict[str, Any],
        conversation: Conversation,
    ) -> _Opened:
        return _Opened(self, method, url, where, kwargs, conversation)

    def answered(
        self,
        response: aiohttp.ClientResponse,
        body: bytes,
        where: str,
        conversation: Conversation,
        what: str,
    ) -> Answer:
        cookies = _set_cookies(response)
        for name, value in cookies.items():
            if value is None:
                conversation.cookies.pop(name, None)
            else:
                conversation.cookies[name] = value
        if not 200 <= response.status < 300:
            status = response.status
            retryable = status in RETRYABLE_STATUSES
            retry_after = (
                parse_retry_after(response.headers.get("Retry-After")) if retryable else None
            )
            raise TargetError(
                f"{where} ({what}) answered HTTP {status}; received: "
                f"{received(body, self.secrets_of(conversation))}",
                retryable=retryable,
                retry_after=retry_after,
                status=status,
            )
        return Answer(status=response.status, headers=response.headers, body=body, cookies=cookies)

    # --- answers -----------------------------------------------------------------------

    def decode(
        self, answer: Answer, where: str, conversation: Conversation, *, what: str = "answer"
    ) -> Any:
        if self.reading.format == "text" and what == "answer":
            return answer.body.decode("utf-8", errors="replace")
        try:
            return loads_bounded(answer.body)
        except TooDeepError as exc:
            raise TargetError(f"{where}: the {what} is {exc}", status=answer.status) from exc
        except ValueError as exc:
            content_type = answer.headers.get("Content-Type", "") or "no content-type"
            raise TargetError(
                f"{where}: the {what} is not JSON ({content_type}); set response.format: text "
                f"for a plain-text reply; received: {received(answer.body, self.secrets_of(conversation))}",
                status=answer.status,
            ) from exc

    def check_error(
        self,
        condition: c.Condition | None,
        document: Any,
        answer: Answer | bytes | bytearray,
        where: str,
        conversation: Conversation,
    ) -> None:
        if condition is None:
            return
        holds, value = condition_holds(condition, document)
        if holds:
            body = answer.body if isinstance(answer, Answer) else bytes(answer)
            raise TargetError(
                f"{where}: the answer is an error ({describe_condition(condition)}: "
                f"{mask(to_text(value), self.secrets_of(conversation))}); received: "
                f"{received(body, self.secrets_of(conversation))}",
                status=answer.status if isinstance(answer, Answer) else None,
            )

    def keep(
        self,
        keep: Mapping[str, c.KeepValue],
        document: Any,
        answer: Answer,
        where: str,
        conversation: Conversation,
    ) -> None:
        for name, source in keep.items():
            if source.path is not None:
                found = compile_path(source.path).find(document)
                value: Any = found[0] if found else None
                origin = f"the body path {source.path}"
            elif source.header is not None:
                value = answer.headers.get(source.header)
                origin = f"the header {source.header}"
            else:
                value = conversation.cookies.get(source.cookie or "")
                origin = f"the cookie {source.cookie}"
            if value is None:
                raise TargetError(
                    f"{where}: cannot keep session.{name}: {origin} is missing from the answer; "
                    f"received: {received(answer.body, self.secrets_of(conversation))}",
                    status=answer.status,
                )
            conversation.session[name] = value

    def reply_text(
        self,
        document: Any,
        body: bytes,
        where: str,
        conversation: Conversation,
        status: int | None,
        reply_path: str | None = None,
    ) -> str:
        """The reply at ``response.reply``, or at ``reply_path`` (a turn's
        ``responseFieldPath``, dotted or a JSONPath) when one is given."""
        path = self.reading.reply if reply_path is None else turn_reply_path(reply_path)
        found = path.find(document)

        def shown() -> str:  # only on failure: masking the body costs on every turn
            return received(body, self.secrets_of(conversation))

        if not found:
            raise TargetError(
                f"{where}: the reply path {path} found nothing (set response.reply "
                f"to where the reply is); received: {shown()}",
                status=status,
            )
        reply = found[0]
        if reply is None:
            return ""  # null content: a reply that only calls tools, or an empty one
        if isinstance(reply, list) and all(isinstance(p, str) for p in reply):
            reply = "".join(reply)
        if not isinstance(reply, str):
            raise TargetError(
                f"{where}: the reply path {path} found a "
                f"{type(reply).__name__}, expected a string; received: {shown()}",
                status=status,
            )
        return reply

    async def aclose(self) -> None:
        for conversation in list(self._conversations.values()):
            await self._release(conversation)
        self._conversations.clear()


class _Opened:
    """``async with target.open(...) as (response, started)``: one HTTP request in a host slot,
    with timeouts and connection failures turned into TargetErrors."""

    def __init__(
        self,
        target: ChannelTarget,
        method: str,
        url: str,
        where: str,
        kwargs: dict[str, Any],
        conversation: Conversation,
    ) -> None:
        self.target = target
        self.method = method
        self.url = url
        self.where = where
        self.kwargs = kwargs
        self.conversation = conversation
        self._slot_cm: Any = None
        self._slot: Any = None
        self._response: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> tuple[aiohttp.ClientResponse, float]:
        target = self.target
        limit = target._hosts.get(self.url)
        if limit is None:
            try:
                parsed = URL(self.url)
                origin = f"{parsed.scheme}://{parsed.host}:{parsed.port}"
            except ValueError as exc:
                raise TargetError(f"{self.where}: not a valid URL") from exc
            limit = target._limits.for_host(origin)
            if len(target._hosts) < _HOSTS_HELD:
                target._hosts[self.url] = limit
        kwargs = dict(self.kwargs)
        kwargs["headers"] = await target.headers_for(self.conversation, kwargs.get("headers", {}))
        self._slot_cm = limit.slot()
        self._slot = await self._slot_cm.__aenter__()
        record_http(self.method, self.url)
        started = time.perf_counter()
        try:
            self._response = await target._session.get().request(
                self.method,
                self.url,
                timeout=target.client_timeout,
                max_redirects=MAX_REDIRECTS,
                **kwargs,
            )
        except BaseException as exc:
            await self._slot_cm.__aexit__(type(exc), exc, exc.__traceback__)
            translated = self.translate(exc)
            if translated is exc:
                raise
            raise translated from exc
        status = self._response.status
        record_http(self.method, self.url, status)
        if status in THROTTLING_STATUSES:
            self._slot.throttled(parse_retry_after(self._response.headers.get("Retry-After")))
        elif status >= 500:
            self._slot.failed()
        return self._response, started

    def finish_later(self) -> None:
        """The turn has its answer: let the server end the response in the background, so
        the connection goes back to the pool (see :meth:`LazySession.finish`)."""
        response = self._response
        if response is not None and not response.content.at_eof():
            self._response = None
            self.target._session.finish(response)

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if self._response is not None:
                self._response.release()
        finally:
            await self._slot_cm.__aexit__(exc_type, exc, tb)
        if isinstance(exc, Exception):
            translated = self.translate(exc)
            if translated is not exc:
                raise translated from exc

    def translate(self, exc: BaseException) -> BaseException:
        where = self.where
        if isinstance(exc, TargetError | TemplateError):
            return exc
        if isinstance(exc, TimeoutError):
            return TargetError(
                f"{where}: no complete answer within {self.target.timeout_s:g} s (env.timeoutMs)",
                retryable=True,
            )
        if isinstance(exc, aiohttp.InvalidURL):
            return TargetError(f"{where}: not a valid URL")
        if isinstance(exc, aiohttp.ClientPayloadError):
            return TargetError(f"{where}: the connection closed mid-answer ({exc})", retryable=True)
        if isinstance(exc, aiohttp.ClientConnectionError):
            return TargetError(
                f"{where}: could not connect ({type(exc).__name__}: {exc}); is the assistant "
                "running and is env.baseUrl right?",
                retryable=True,
            )
        if isinstance(exc, aiohttp.TooManyRedirects):
            return TargetError(f"{where}: still redirected after {MAX_REDIRECTS} redirects")
        if isinstance(exc, aiohttp.ClientError):
            return TargetError(f"{where}: {type(exc).__name__}: {exc}")
        if isinstance(exc, ValueError):
            return TargetError(f"{where}: the request could not be built: {exc}")
        return exc


def _slash(path: str) -> str:
    if not path:
        return ""
    return path if path.startswith(("/", "?")) else "/" + path


def turn_reply_path(path: str) -> JsonPath:
    """A turn's ``responseFieldPath``: a dotted path (``data.reply``) or a JSONPath."""
    return compile_path(path if path.startswith("$") else f"$.{path}")


def _turn_of(values: Mapping[str, Any]) -> TurnRequest:
    return TurnRequest(
        message=values["message"],
        transcript=values["transcript"],
        persona=values["persona"] or None,
        extra=dict(values.get("inputs") or {}),
    )


def _set_cookies(response: aiohttp.ClientResponse) -> dict[str, str | None]:
    """Cookies the answer sets (``None``: the server deleted it)."""
    found: dict[str, str | None] = {}
    for header in response.headers.getall("Set-Cookie", []):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            continue
        for name, morsel in jar.items():
            expired = morsel["max-age"] in ("0", "-1") or not morsel.value
            found[name] = None if expired else morsel.value
    return found
