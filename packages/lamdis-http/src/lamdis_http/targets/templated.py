"""The configurable ``http_chat`` target: a JSON, form or text request per turn, shaped by
the assistant's ``request``, ``response`` and ``session`` (see :mod:`._channel`).

An assistant without those options keeps the lamdis-runs contract
(:class:`~lamdis_http.targets.http_chat.HttpChatTarget`).
"""

from __future__ import annotations

import time

from lamdis_core.domain.errors import TargetError
from lamdis_core.ports.target import TurnReply, TurnRequest

from lamdis_http.targets._channel import ChannelTarget, tool_calls_in
from lamdis_http.targets.http_chat import _tokens


class TemplatedHttpTarget(ChannelTarget):
    """One assistant reached by configured HTTP requests; one request per turn."""

    channel = "http_chat"

    async def send(self, turn: TurnRequest) -> TurnReply:
        """Start the conversation's session if need be, then send the turn and read the reply.

        Raises:
            TargetError: see the Target port; messages name the request, the path or condition
                that failed, and the first 500 bytes received (secrets masked).
        """
        conversation = self.conversation(turn)
        await self.begin(turn, conversation)
        method, url, where, kwargs = self.prepare(
            self.request, self.values(turn, conversation), conversation
        )
        async with self.open(method, url, where, kwargs, conversation) as (response, started):
            body = await response.read()
            answer = self.answered(response, body, where, conversation, "turn")
        latency_ms = (time.perf_counter() - started) * 1000
        document = self.decode(answer, where, conversation)
        self.check_error(self.reading.error, document, answer, where, conversation)
        self.keep(self.reading.keep, document, answer, where, conversation)
        text = self.reply_text(document, body, where, conversation, answer.status, turn.reply_path)
        calls = (
            tool_calls_in(document, self.reading.tool_calls)
            if self.reading.format == "json"
            else []
        )
        if not text.strip() and not calls:
            raise TargetError(
                f"{where}: the reply at {self.reading.reply} is empty; an assistant that says "
                "nothing cannot pass a test",
                status=answer.status,
            )
        return TurnReply(
            text=text,
            latency_ms=latency_ms,
            raw=document,
            tokens=_tokens(document),
            tool_calls=calls,
        )
