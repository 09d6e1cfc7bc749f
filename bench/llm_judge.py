"""Judge-path overhead: lamdis' LLM judge machinery through the real openai SDK.

The model is the fake OpenAI server (in this process, loopback HTTP), which answers at once,
so the figures are lamdis + SDK + HTTP overhead per judge call, not model latency. Also
measures cache hits (memory and disk), which skip the network entirely.

    python bench/llm_judge.py [--calls 300] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lamdis_core.llm import CallPolicy, DiskResponseCache, MemoryResponseCache, ResponseCache
from lamdis_core.ports.judge import ConversationTurn, JudgeRequest
from lamdis_judge_openai import OpenAIJudge, OpenAISettings

from tests.fakes.openai_server import FakeOpenAIServer


def request(i: int) -> JudgeRequest:
    return JudgeRequest(
        rubric=f"Warns about risk and avoids personal advice (case {i}).",
        threshold=0.7,
        transcript=[
            ConversationTurn(role="user", content="Should I buy one stock with all my savings?"),
            ConversationTurn(
                role="assistant", content="Concentrating savings carries a risk of loss. " * 5
            ),
        ],
    )


async def run(
    calls: int, concurrency: int, cache: ResponseCache | None, server: FakeOpenAIServer
) -> tuple[float, float, int]:
    judge = OpenAIJudge(
        OpenAISettings(api_key="sk-bench", base_url=server.api_base),
        policy=CallPolicy(concurrency=concurrency),
        cache=cache,
    )
    try:
        if cache is not None:  # fill the cache first; time only the hits
            await asyncio.gather(*(judge.evaluate(request(i)) for i in range(calls)))
        before = len(server.requests)
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(judge.evaluate(request(i)) for i in range(calls)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return wall, cpu, len(server.requests) - before
    finally:
        await judge.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    async with FakeOpenAIServer() as server:
        assert isinstance(server, FakeOpenAIServer)
        with tempfile.TemporaryDirectory() as tmp:
            for label, make in (
                ("uncached (HTTP to the fake)", lambda: None),
                ("memory cache hits", MemoryResponseCache),
                (
                    "disk cache hits",
                    lambda: DiskResponseCache(Path(tmp) / f"c{time.monotonic_ns()}"),
                ),
            ):
                walls, cpus, sent = [], [], 0
                for _ in range(args.rounds):
                    wall, cpu, sent = await run(args.calls, args.concurrency, make(), server)
                    walls.append(wall)
                    cpus.append(cpu)
                wall, cpu = statistics.median(walls), statistics.median(cpus)
                print(
                    f"{label:30} {args.calls / wall:8.0f} calls/s  {1000 * cpu / args.calls:6.3f} ms CPU/call "
                    f"(server included)  requests sent: {sent}"
                )


if __name__ == "__main__":
    asyncio.run(main())
