"""Configuration objects: what a team writes in its JSON or YAML files.

Field names are snake_case here and camelCase in files (``maxTurns``); the converter in
:mod:`lamdis_core.domain.convert` maps between the two. The shapes follow lamdis-runs so its
files load unchanged; everything beyond it is additive.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from lamdis_core.domain.base import Value

Scope = Literal["last", "transcript"]
Severity = Literal["error", "warn", "info"]
Role = Literal["user", "system", "assistant"]

DEFAULT_TIMEOUT_MS = 30_000


class _Unset:
    """Marks an optional field that was not given, where ``null`` is a meaningful value."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()
DEFAULT_CHECK_THRESHOLD = 0.75


# --- assistants and auth -------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False, eq=False)
class AuthRef(Value):
    auth_ref: str


@attrs.frozen(kw_only=True, repr=False, eq=False)
class AssistantEnv(Value):
    """How to reach an assistant. ``channel`` picks the Target adapter."""

    channel: str = "http_chat"
    base_url: str | None = None
    path: str | None = None
    headers: dict[str, str] = attrs.Factory(dict)
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    model: str | None = None
    system_prompt: str | None = None
    temperature: float | None = None
    response_field_path: str | None = None


# --- configurable channels (request/response templates, sessions, streams) -----------------

BodyFormat = Literal["json", "form", "text"]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Condition(Value):
    """A test on a JSON value: ``path`` must exist, and ``equals``/``matches`` hold if given.

    ``exists: false`` turns it round: the condition holds when the path finds nothing.
    """

    path: str
    equals: Any = UNSET
    matches: str | None = None
    exists: bool | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class KeepValue(Value):
    """Where a value to keep for later turns comes from: a JSONPath on the body, a response
    header, or a cookie. Exactly one is given."""

    path: str | None = None
    header: str | None = None
    cookie: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ChannelRequest(Value):
    """What one call sends. Strings may hold ``{{placeholders}}`` and ``${ENV}``.

    ``path`` is joined to ``env.baseUrl``; ``url`` replaces both. ``bodyFormat`` ``form``
    sends an object as ``application/x-www-form-urlencoded``, ``text`` a string as is.
    """

    method: str = "POST"
    path: str | None = None
    url: str | None = None
    query: dict[str, str] = attrs.Factory(dict)
    headers: dict[str, str] = attrs.Factory(dict)
    body: Any = UNSET
    body_format: BodyFormat = "json"


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ChannelResponse(Value):
    """How to read an answer. ``reply``: a JSONPath to the reply text (default ``$.reply``),
    or ``$`` with ``format: text`` for a plain-text body. ``toolCalls``: a JSONPath to a list
    of tool calls (OpenAI format is also found on its own). ``keep``: values for later turns
    (``{{session.NAME}}``). ``error``: a condition that makes a 2xx answer an error.
    """

    format: Literal["json", "text"] = "json"
    reply: str | None = None
    tool_calls: str | None = None
    keep: dict[str, KeepValue] = attrs.Factory(dict)
    error: Condition | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class SessionStart(Value):
    """The request made once per conversation, before its first turn, and what it keeps."""

    request: ChannelRequest
    keep: dict[str, KeepValue] = attrs.Factory(dict)
    error: Condition | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ChannelSession(Value):
    """``start``: made before the first turn; ``close``: after the last (errors are logged)."""

    start: SessionStart | None = None
    close: ChannelRequest | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class SseSpec(Value):
    """How an ``sse`` channel reads a text/event-stream.

    ``format: openai``: ``data:`` chunks whose text is at ``contentPath`` (default
    ``$.choices[0].delta.content``), ending with ``data: [DONE]``. ``format: events``: named
    events; ``events`` maps an event name to the JSONPath of its text (``$`` for the whole
    data as text), and the stream ends at ``doneEvent`` or when ``done`` holds on an event's
    data. Either way the stream closing ends the reply too.
    """

    format: Literal["openai", "events"] = "openai"
    content_path: str | None = None
    events: dict[str, str] = attrs.Factory(dict)
    done_event: str | None = None
    done: Condition | None = None
    tool_calls: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class WebSocketSpec(Value):
    """How a ``websocket`` channel talks: ``path`` (or ``url``) to connect to, one frame per
    turn from ``message`` (a template; an object is sent as JSON), and frames read until
    ``done`` holds on a frame, the server closes (``untilClose``), or no frame came for
    ``idleMs``. ``contentPath`` picks the text of a JSON frame (``$`` for a text frame).
    ``connect: conversation`` keeps one connection per conversation; ``turn`` opens one per
    turn.
    """

    path: str | None = None
    url: str | None = None
    headers: dict[str, str] = attrs.Factory(dict)
    message: Any = UNSET
    format: Literal["json", "text"] = "json"
    content_path: str | None = None
    tool_calls: str | None = None
    done: Condition | None = None
    until_close: bool = False
    idle_ms: int | None = None
    connect: Literal["conversation", "turn"] = "conversation"
    status_path: str | None = None
    retry_after_path: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Assistant(Value):
    """An assistant under test (``assistants/*.json``).

    ``path`` may stand at the top level (as in lamdis-runs' own examples) or in ``env``;
    ``env.path`` wins, then the top-level one, then ``/chat``.
    """

    id: str
    name: str | None = None
    env: AssistantEnv = attrs.Factory(AssistantEnv)
    auth_ref: str | None = None
    auth: AuthRef | None = None
    path: str | None = None
    reply_path: str | None = None
    request: ChannelRequest | None = None
    response: ChannelResponse | None = None
    session: ChannelSession | None = None
    sse: SseSpec | None = None
    websocket: WebSocketSpec | None = None

    @property
    def configurable(self) -> bool:
        """Whether the channel is shaped by ``request``/``response``/``session``."""
        return self.request is not None or self.response is not None or self.session is not None

    @property
    def effective_auth_ref(self) -> str | None:
        return self.auth.auth_ref if self.auth else self.auth_ref

    @property
    def effective_path(self) -> str:
        return self.env.path or self.path or "/chat"

    @property
    def effective_reply_path(self) -> str | None:
        """``replyPath``, else the newer format's ``env.responseFieldPath``."""
        return self.reply_path or self.env.response_field_path

    @property
    def label(self) -> str:
        return self.name or self.id


@attrs.frozen(kw_only=True, repr=False, eq=False)
class StaticAuth(Value):
    """Fixed headers, with ``${VAR}`` read from the environment."""

    id: str
    headers: dict[str, str]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class AuthPattern(Value):
    type: str = "bearer"
    header: str = "Authorization"
    template: str = "Bearer ${TOKEN}"


@attrs.frozen(kw_only=True, repr=False, eq=False)
class PatternAuth(Value):
    """Named values from the environment, applied to one header through a template."""

    id: str
    env: dict[str, str] = attrs.Factory(dict)
    pattern: AuthPattern = attrs.Factory(AuthPattern)


@attrs.frozen(kw_only=True, repr=False, eq=False)
class AuthApply(Value):
    type: str = "bearer"
    header: str = "Authorization"


@attrs.frozen(kw_only=True, repr=False, eq=False)
class OAuthClientCredentials(Value):
    """OAuth 2 client-credentials grant; the token is cached until it expires."""

    id: str
    kind: Literal["oauth_client_credentials"] = "oauth_client_credentials"
    client_id: str
    client_secret: str
    token_url: str
    scopes: list[str] = attrs.Factory(list)
    audience: str | None = None
    cache_ttl_seconds: int | None = None
    apply: AuthApply = attrs.Factory(AuthApply)


AuthConfig = StaticAuth | PatternAuth | OAuthClientCredentials


# --- requests and personas -----------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False, eq=False)
class HttpSpec(Value):
    method: str = "GET"
    base_url: str | None = None
    path: str | None = None
    full_url: str | None = None
    headers: dict[str, str] = attrs.Factory(dict)
    body: Any = None
    timeout_ms: int = DEFAULT_TIMEOUT_MS


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Transport(Value):
    mode: str = "direct"
    authority: str | None = None
    http: HttpSpec = attrs.Factory(HttpSpec)


@attrs.frozen(kw_only=True, repr=False, eq=False)
class RequestDef(Value):
    """One API call a test can make in a ``request`` step."""

    id: str
    title: str | None = None
    auth: AuthRef | None = None
    auth_ref: str | None = None
    transport: Transport = attrs.Factory(Transport)

    @property
    def effective_auth_ref(self) -> str | None:
        return self.auth.auth_ref if self.auth else self.auth_ref


@attrs.frozen(kw_only=True, repr=False, eq=False)
class RequestsFile(Value):
    auth_ref: str | None = None
    requests: list[RequestDef] = attrs.Factory(list)


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Persona(Value):
    id: str
    description: str = ""
    user_profile: dict[str, Any] = attrs.Factory(dict)

    def as_text(self) -> str:
        """The persona as the target and the judge see it."""
        if not self.user_profile:
            return self.description
        profile = ", ".join(f"{k}: {v}" for k, v in self.user_profile.items())
        return f"{self.description} ({profile})" if self.description else profile


@attrs.frozen(kw_only=True, repr=False, eq=False)
class PersonasFile(Value):
    personas: list[Persona] = attrs.Factory(list)


# --- steps ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False, eq=False)
class MessageStep(Value):
    """Send (user), inject (system) or add as context (assistant) a message.

    ``assistantInputMappings`` adds fields (interpolated) to what a user turn sends;
    ``responseFieldPath`` says where this turn's reply is (a dotted path, ``data.reply``).
    """

    type: Literal["message"] = "message"
    id: str | None = None
    name: str | None = None
    role: Role = "user"
    content: str
    persona_id: str | None = None
    assistant_input_mappings: dict[str, Any] | None = None
    response_field_path: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class RequestStep(Value):
    """Call a request from the imported requests files; the JSON result lands in ``var``."""

    type: Literal["request"] = "request"
    id: str | None = None
    name: str | None = None
    request_id: str
    input: dict[str, Any] | None = None
    input_mappings: dict[str, Any] | None = None
    assign: str | None = None
    save_as: str | None = None

    @property
    def variable(self) -> str | None:
        return self.assign or self.save_as


Operator = Literal[
    "eq", "neq", "gt", "gte", "lt", "lte", "contains", "not_contains", "regex", "exists",
    "not_exists",
]  # fmt: skip
OPERATORS: tuple[str, ...] = Operator.__args__  # type: ignore[attr-defined]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class AssistantCheckStep(Value):
    """A check in one of three modes.

    - ``judge``: an LLM-judged ``rubric`` on the last reply or the transcript (``scope``,
      default ``last``), passing at ``threshold``.
    - ``includes``: every keyword of ``includes`` (a comma-separated string or a list) must
      appear, case-insensitive, in ``scope`` (default ``transcript``).
    - ``variable_check``: the value at ``variablePath`` (``var.order.items[0].id``) compared
      with ``rightValue`` (or ``expectEquals``) by ``operator`` (default ``eq``).
    """

    type: Literal["assistant_check"] = "assistant_check"
    id: str | None = None
    mode: Literal["judge", "includes", "variable_check"] = "judge"
    rubric: str | None = None
    threshold: float = DEFAULT_CHECK_THRESHOLD
    scope: Scope | None = None
    severity: Severity = "error"
    name: str | None = None
    samples: int | None = None  # ask the judge this many times; the median score decides
    includes: str | list[str] | None = None
    variable_path: str | None = None
    operator: Operator = "eq"
    right_value: Any = UNSET
    expect_equals: Any = UNSET

    @property
    def effective_scope(self) -> Scope:
        if self.scope is not None:
            return self.scope
        return "transcript" if self.mode == "includes" else "last"

    @property
    def keywords(self) -> list[str]:
        """The ``includes`` keywords, trimmed, empty ones dropped."""
        raw = self.includes or []
        items = raw.split(",") if isinstance(raw, str) else raw
        return [k.strip() for k in items if k.strip()]

    @property
    def expected(self) -> Any:
        """The right-hand side of a ``variable_check`` (``rightValue``, else ``expectEquals``)."""
        if self.right_value is not UNSET:
            return self.right_value
        return "" if self.expect_equals is UNSET else self.expect_equals


@attrs.frozen(kw_only=True, repr=False, eq=False)
class IncludesStep(Value):
    """Every term must appear (case-insensitive)."""

    type: Literal["includes"] = "includes"
    id: str | None = None
    includes: list[str]
    scope: Scope = "last"
    severity: Severity = "error"
    name: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class NotIncludesStep(Value):
    """No term may appear (case-insensitive)."""

    type: Literal["not_includes"] = "not_includes"
    id: str | None = None
    terms: list[str]
    scope: Scope = "last"
    severity: Severity = "error"
    name: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class RegexStep(Value):
    """The text must match ``pattern`` (or must not, with ``negate``). ``flags``: any of ``ims``."""

    type: Literal["regex"] = "regex"
    id: str | None = None
    pattern: str
    flags: str = ""
    negate: bool = False
    scope: Scope = "last"
    severity: Severity = "error"
    name: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class JsonPathStep(Value):
    """Look up ``path`` in a value (``source``: ``var.x``, ``steps.id.output``, ``last.request``).

    With no expectation the path must exist; otherwise ``equals``, ``matches`` (regex on the
    text form) and ``exists`` must all hold.
    """

    type: Literal["json_path"] = "json_path"
    id: str | None = None
    source: str = "last.request"
    path: str
    equals: Any = UNSET
    matches: str | None = None
    exists: bool | None = None
    severity: Severity = "error"
    name: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class LatencyStep(Value):
    """Latency ceilings in ms over the last turn, or every turn so far (``scope: transcript``).

    ``maxMs`` bounds the whole reply, ``ttftMs`` the time to its first token (streaming
    channels measure it; a channel that does not fails the check, saying so). At least one.
    """

    type: Literal["latency"] = "latency"
    id: str | None = None
    max_ms: float | None = None
    ttft_ms: float | None = None
    scope: Scope = "last"
    severity: Severity = "error"
    name: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ToolCalledStep(Value):
    """A tool named ``name`` was called (in the last reply, or anywhere: ``scope``).

    ``arguments`` must be a JSON subset of the call's arguments (every key given matches,
    recursively; lists match item by item). ``times`` asks for that exact number of matching
    calls; without it, at least one.
    """

    type: Literal["tool_called"] = "tool_called"
    id: str | None = None
    tool: str
    arguments: Any = UNSET
    times: int | None = None
    scope: Scope = "last"
    severity: Severity = "error"
    name: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class NoToolCalledStep(Value):
    """No tool was called (or none named ``tool``), in the last reply or anywhere."""

    type: Literal["no_tool_called"] = "no_tool_called"
    id: str | None = None
    tool: str | None = None
    scope: Scope = "last"
    severity: Severity = "error"
    name: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ExtractStep(Value):
    """Ask the judge to pull a named value out of the conversation into ``var``."""

    type: Literal["extract"] = "extract"
    id: str | None = None
    variable_name: str
    description: str
    scope: Scope = "transcript"


@attrs.frozen(kw_only=True, repr=False, eq=False)
class UserObjectiveStep(Value):
    """A goal-driven conversation inside one step (the newer lamdis format).

    The judge opens with a message toward ``objective`` (``description`` in files the newer
    lamdis web builder writes), then after each turn the ``attachedChecks`` run and the judge
    proposes the next user message (a neutral follow-up when it proposes none). The loop ends
    when a check passes after ``minTurns`` (``exitOnPass``), when one fails (``exitOnFail``),
    or at ``maxTurns`` (capped by the test's ``maxTurns``).
    """

    type: Literal["user_objective"] = "user_objective"
    id: str | None = None
    name: str | None = None
    objective: str | None = None
    description: str | None = None
    min_turns: int = 1
    max_turns: int | None = None
    iterative_conversation: bool = True
    exit_on_pass: bool = True
    exit_on_fail: bool = False
    continue_after_pass: bool | None = None
    attached_checks: list[AssistantCheckStep] = attrs.Factory(list)
    persona_id: str | None = None
    assistant_input_mappings: dict[str, Any] | None = None
    response_field_path: str | None = None

    @property
    def goal(self) -> str:
        return (self.objective or self.description or "").strip()

    @property
    def stops_on_pass(self) -> bool:
        """``exitOnPass``; the older ``continueAfterPass: true`` means the opposite."""
        return self.exit_on_pass and self.continue_after_pass is not True


Step = (
    MessageStep
    | RequestStep
    | AssistantCheckStep
    | UserObjectiveStep
    | IncludesStep
    | NotIncludesStep
    | RegexStep
    | JsonPathStep
    | LatencyStep
    | ToolCalledStep
    | NoToolCalledStep
    | ExtractStep
)
STEP_TYPES: dict[str, type[Any]] = {
    "message": MessageStep,
    "request": RequestStep,
    "assistant_check": AssistantCheckStep,
    "includes": IncludesStep,
    "not_includes": NotIncludesStep,
    "regex": RegexStep,
    "json_path": JsonPathStep,
    "latency": LatencyStep,
    "tool_called": ToolCalledStep,
    "no_tool_called": NoToolCalledStep,
    "extract": ExtractStep,
    "user_objective": UserObjectiveStep,
}


# --- tests and suites ----------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ScriptMessage(Value):
    role: Role = "user"
    content: str
    persona_id: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Script(Value):
    messages: list[ScriptMessage] = attrs.Factory(list)


@attrs.frozen(kw_only=True, repr=False, eq=False)
class JudgeConfig(Value):
    rubric: str | None = None
    threshold: float = DEFAULT_CHECK_THRESHOLD
    samples: int | None = None  # ask the judge this many times; the median score decides


@attrs.frozen(kw_only=True, repr=False, eq=False)
class TestVariable(Value):
    """A test-level variable: ``value`` may hold generators (``${uuid}``, ``${randInt(6)}``);
    it is resolved once per test, before ``preSteps``, into ``var.<key>``."""

    key: str
    value: Any = ""
    description: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class TestCase(Value):
    """One test. Without ``steps`` it is iterative (see the engine)."""

    __test__ = False  # not a pytest test class

    id: str
    name: str | None = None
    tags: list[str] = attrs.Factory(list)
    enabled: bool = True
    persona_id: str | None = None
    objective: str | None = None
    script: Script = attrs.Factory(Script)
    steps: list[Step] = attrs.Factory(list)
    max_turns: int = 8
    min_turns: int = 1
    iterate: bool = True
    continue_after_pass: bool = False
    judge_config: JudgeConfig | None = None
    min_pass_rate: float | None = None  # with --repeat: the least share of runs that must pass
    variables: list[TestVariable] = attrs.Factory(list)
    pre_steps: list[RequestStep] = attrs.Factory(list)

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def request_steps(self) -> list[RequestStep]:
        """Every request the test makes: its ``preSteps``, then its request steps."""
        return [*self.pre_steps, *(s for s in self.steps if isinstance(s, RequestStep))]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Imports(Value):
    personas: list[str] = attrs.Factory(list)
    requests: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True, repr=False, eq=False)
class TestFile(Value):
    __test__ = False

    id: str | None = None
    name: str | None = None
    imports: Imports = attrs.Factory(Imports)
    assistant_ref: str | None = None
    env: AssistantEnv | None = None
    tests: list[TestCase] = attrs.Factory(list)


@attrs.frozen(kw_only=True, repr=False, eq=False)
class SuiteAssistants(Value):
    include: list[str] = attrs.Factory(list)
    include_folders: list[str] = attrs.Factory(list)
    exclude: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True, repr=False, eq=False)
class SuiteTests(Value):
    include_files: list[str] = attrs.Factory(list)
    include_ids: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Schedule(Value):
    """When the hosted service runs a suite by itself: every ``periodMinutes`` or on a
    five-field ``cron`` expression (UTC), one of the two. ``envId`` and ``webhookUrl`` are
    what a manual start would pass. ``lastRunAt``/``nextRunAt`` are kept by the service."""

    enabled: bool = True
    period_minutes: float | None = None
    cron: str | None = None
    env_id: str | None = None
    webhook_url: str | None = None
    last_run_at: str | None = None
    next_run_at: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Suite(Value):
    """A set of tests run against one or more assistants (a matrix when several)."""

    id: str
    description: str | None = None
    assistants: SuiteAssistants = attrs.Factory(SuiteAssistants)
    tests: SuiteTests | list[TestCase] = attrs.Factory(SuiteTests)
    imports: Imports = attrs.Factory(Imports)
    schedule: Schedule | None = None
