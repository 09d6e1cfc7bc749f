"""The ``sse`` target: the reply arrives as a ``text/event-stream``.

Requests are shaped like the configurable ``http_chat`` channel's (``request``, ``session``,
``response.keep``/``error``); the ``sse`` options say how to read the stream:

- ``format: openai`` (default): ``data:`` chunks in OpenAI's chat-completion chunk format;
  the text is at ``contentPath`` (default ``$.choices[0].delta.content``), streamed tool calls
  are assembled from ``choices[0].delta.tool_calls``, and ``data: [DONE]`` ends the reply.
- ``format: events``: named events. ``events`` maps an event name to the JSONPath of its
  text (``$`` when the data is the text itself); the reply ends at ``doneEvent``, when
  ``done`` holds on an event's data, or, when neither is set, when the stream closes.

Each turn records the time to the first content chunk and the number of content chunks.
"""

from __future__ import annotations

import codecs
import time
from typing import Any

from lamdis_core.domain import config as c
from lamdis_core.domain.errors import TargetError
from lamdis_core.jsonpath import JsonPath, compile_path
from lamdis_core.ports.target import ToolCall, TurnReply, TurnRequest
from lamdis_core.sanitize import loads_bounded
from lamdis_core.tool_calls import to_tool_call

from lamdis_http.targets._channel import (
    ChannelSetup,
    ChannelTarget,
    condition_holds,
    describe_condition,
    received,
    tool_calls_in,
)

OPENAI_CONTENT = "$.choices[0].delta.content"
_OPENAI_TOOL_DELTAS = compile_path("$.choices[0].delta.tool_calls")


class SseTarget(ChannelTarget):
    """One assistant whose answers stream as Server-Sent Events."""

    channel = "sse"

    def _configure(self, setup: ChannelSetup) -> None:
        spec = setup.assistant.sse or c.SseSpec()
        self.spec = spec
        self.content: JsonPath = compile_path(spec.content_path or OPENAI_CONTENT)
        # The usual case: the text and the streamed tool calls share one delta object, found
        # once per chunk instead of walking the document twice.
        self.openai_delta = (
            spec.format == "openai" and self.content.steps == compile_path(OPENAI_CONTENT).steps
        )
        self.event_paths: dict[str, JsonPath] = {
            name: compile_path(path) for name, path in spec.events.items()
        }
        if spec.format == "events" and not self.event_paths:
            setup.problem(
                "$.sse.events",
                "format events needs events: {eventName: JSONPath of its text}, "
                'e.g. {"token": "$.text"}',
            )
        self.tool_path = compile_path(spec.tool_calls) if spec.tool_calls else None
        if spec.format == "openai":
            self.terminal = "data: [DONE]"
        elif spec.done_event:
            self.terminal = f"event {spec.done_event}"
        elif spec.done is not None:
            self.terminal = describe_condition(spec.done)
        else:
            self.terminal = ""

    async def send(self, turn: TurnRequest) -> TurnReply:
        """Send the turn and read the stream to its terminal condition.

        Raises:
            TargetError: as for ``http_chat``; also a stream that closes or times out before
                its terminal condition, or a chunk that is not JSON when JSON is expected.
        """
        conversation = self.conversation(turn)
        await self.begin(turn, conversation)
        method, url, where, kwargs = self.prepare(
            self.request, self.values(turn, conversation), conversation
        )
        kwargs["headers"].setdefault("Accept", "text/event-stream")
        state = _Stream(self, where, conversation)
        opened = self.open(method, url, where, kwargs, conversation)
        async with opened as (response, started):
            state.started = started
            if not 200 <= response.status < 300:
                self.answered(response, await response.read(), where, conversation, "turn")
            content_type = response.headers.get("Content-Type", "")
            if "text/event-stream" not in content_type:
                body = await response.read()
                raise TargetError(
                    f"{where}: expected a text/event-stream, got {content_type or 'no content-type'}"
                    f" (a JSON answer belongs to the http_chat channel); received: "
                    f"{received(body, self.secrets_of(conversation))}",
                    status=response.status,
                )
            self.answered(response, b"", where, conversation, "turn")  # keeps cookies
            try:
                # Read what arrived, not line by line: one await per network read. One decode
                # per read; the incremental decoder holds a character split between two reads.
                decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
                pending = ""  # the event not yet ended by a blank line
                ended = False
                raw = state.raw
                block = state.block
                read = response.content.readany  # b"" at the end of the stream
                while data := await read():
                    raw += data
                    text = pending + decode(data)
                    if "\r" in text:
                        text = text.replace("\r\n", "\n")
                    *events, pending = text.split("\n\n")
                    for event in events:
                        if block(event):
                            ended = True
                            break
                    if ended:
                        break
                if ended:
                    opened.finish_later()
                else:
                    pending += decode(b"", True)
                    if not block(pending.replace("\r\n", "\n")) and self.terminal:
                        raise TargetError(
                            f"{where}: the stream closed before its end ({self.terminal}); "
                            f"received: {received(bytes(raw), self.secrets_of(conversation))}",
                            retryable=True,
                        )
            except TimeoutError as exc:
                raise TargetError(
                    f"{where}: the stream did not reach its end ({self.terminal or 'closing'}) "
                    f"within {self.timeout_s:g} s (env.timeoutMs); received: "
                    f"{received(bytes(state.raw), self.secrets_of(conversation))}",
                    retryable=True,
                ) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        text = "".join(state.parts)
        calls = state.tool_calls()
        if not text.strip() and not calls:
            raise TargetError(
                f"{where}: the stream ended with an empty reply; an assistant that says nothing "
                f"cannot pass a test; received: {received(bytes(state.raw), self.secrets_of(conversation))}",
                status=response.status,
            )
        return TurnReply(
            text=text,
            latency_ms=latency_ms,
            raw={"events": state.events},
            tool_calls=calls,
            ttft_ms=state.ttft_ms,
            chunks=state.chunks,
        )


def _openai_delta(chunk: Any) -> Any:
    """``$.choices[0].delta`` of a parsed chunk, looked up directly: this runs once per
    streamed chunk, and parsed JSON is plain dicts and lists."""
    if type(chunk) is dict:
        choices = chunk.get("choices")
        if type(choices) is list and choices and type(choices[0]) is dict:
            return choices[0].get("delta")
    return None


class _Stream:
    """What one turn's stream has delivered so far."""

    def __init__(self, target: SseTarget, where: str, conversation: Any) -> None:
        self.target = target
        self.where = where
        self.conversation = conversation
        self.started = time.perf_counter()
        self.raw = bytearray()
        self.parts: list[str] = []
        self.events: list[Any] = []
        self.ttft_ms: float | None = None
        self.chunks = 0
        self._deltas: dict[int, dict[str, Any]] = {}
        self._calls: list[ToolCall] = []

    def content(self, text: Any) -> None:
        if not isinstance(text, str) or not text:
            return
        if self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - self.started) * 1000
        self.chunks += 1
        self.parts.append(text)

    def block(self, text: str) -> bool:
        """Take the lines of one event up to the blank line that ends it (``\\r\\n`` already
        made ``\\n``); ``True`` when an event in it ends the reply."""
        if text.startswith("data:") and "\n" not in text:  # the usual event: one data line
            return self.dispatch("message", text[6:] if text[5:6] == " " else text[5:])
        name = "message"
        data: list[str] = []
        for line in text.split("\n"):
            if line.endswith("\r"):
                line = line.rstrip("\r")
            if not line:  # a lone CR made a blank line: the event ends here
                if data and self.dispatch(name, "\n".join(data)):
                    return True
                name, data = "message", []
                continue
            if line.startswith(":"):
                continue  # a comment (keep-alive ping)
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "data":
                data.append(value)
            elif field == "event":
                name = value or "message"
        return bool(data) and self.dispatch(name, "\n".join(data))

    def dispatch(self, name: str, data: str) -> bool:
        """Take one event; ``True`` when it ends the reply."""
        target = self.target
        conversation = self.conversation
        spec = target.spec
        document: Any
        if spec.format == "openai":
            if data == "[DONE]" or ("[DONE]" in data and data.strip() == "[DONE]"):
                return True
            try:
                document = loads_bounded(data)
            except ValueError:
                document = self._json(data, conversation)  # raises, naming the stream
            self.events.append(document)
            if target.reading.error is not None:
                target.check_error(
                    target.reading.error, document, self.raw, self.where, conversation
                )
            if target.openai_delta:
                delta = _openai_delta(document)
                if isinstance(delta, dict):
                    self.content(delta.get("content"))
                    if "tool_calls" in delta:
                        self._openai_tool_deltas(delta["tool_calls"])
            else:
                self.content(target.content.first(document))
                self._openai_tool_deltas(_OPENAI_TOOL_DELTAS.first(document))
            if target.tool_path is not None:
                self._calls.extend(tool_calls_in(document, target.tool_path))
            return False
        path = target.event_paths.get(name)
        needs_json = (path is not None and path.steps) or spec.done is not None or target.tool_path
        document = data
        if needs_json:
            try:
                document = loads_bounded(data)
            except ValueError:
                if path is not None and path.steps:
                    self._json(data, conversation)  # raises, naming the event
                document = data
        self.events.append({"event": name, "data": document})
        if spec.done_event and name == spec.done_event:
            return True
        target.check_error(target.reading.error, document, self.raw, self.where, conversation)
        if path is not None:
            found = path.find(document)
            self.content(found[0] if found else None)
        if target.tool_path is not None and not isinstance(document, str):
            self._calls.extend(tool_calls_in(document, target.tool_path))
        if spec.done is not None and not isinstance(document, str):
            return condition_holds(spec.done, document)[0]
        return False

    def _json(self, data: str, conversation: Any) -> Any:
        try:
            return loads_bounded(data)
        except ValueError as exc:
            raise TargetError(
                f"{self.where}: an event's data is not JSON ({exc}); received: "
                f"{received(bytes(self.raw), self.target.secrets_of(conversation))}"
            ) from exc

    def _openai_tool_deltas(self, deltas: Any) -> None:
        if not isinstance(deltas, list):
            return
        for delta in deltas:
            if not isinstance(delta, dict):
                continue
            index = delta.get("index", len(self._deltas))
            held = self._deltas.setdefault(int(index), {"name": "", "arguments": "", "id": None})
            function = delta.get("function") or {}
            if delta.get("id"):
                held["id"] = delta["id"]
            if function.get("name"):
                held["name"] += function["name"]
            if function.get("arguments"):
                held["arguments"] += function["arguments"]

    def tool_calls(self) -> list[ToolCall]:
        assembled = [
            to_tool_call({"id": held["id"], "function": held})
            for _, held in sorted(self._deltas.items())
        ]
        return [call for call in assembled if call is not None] + self._calls
