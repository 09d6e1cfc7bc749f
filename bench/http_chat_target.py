"""Micro-benchmark of the http_chat target alone: no engine, no judge.

Starts the demo assistant in a subprocess (as in real use, the assistant has its own
process), then sends TESTS x 3 turns through one HttpChatTarget with CONCURRENCY tests in
flight, and prints wall time, turns per second and the CPU time per turn of the client and of the
demo server.

    .venv/bin/python bench/http_chat_target.py [--tests 200] [--concurrency 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping

import psutil  # type: ignore[import-untyped]  # no stubs in the dev group; used for CPU times only
from lamdis_core.domain.config import Assistant, AssistantEnv
from lamdis_core.ports.target import TurnRequest
from lamdis_http.targets import HttpChatTargetFactory


async def _no_auth() -> Mapping[str, str]:
    return {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_ready(port: int) -> None:
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError("demo assistant did not start")


async def _round(url: str, tests: int, concurrency: int) -> tuple[float, float]:
    factory = HttpChatTargetFactory()
    target = factory.create(Assistant(id="bench", env=AssistantEnv(base_url=url)), _no_auth, {})
    gate = asyncio.Semaphore(concurrency)

    async def one_test(index: int) -> None:
        async with gate:
            transcript: list[dict[str, str]] = []
            for turn in range(3):
                message = f"test {index} turn {turn}: is a risky stock a good idea?"
                reply = await target.send(TurnRequest(message=message, transcript=list(transcript)))
                transcript += [
                    {"role": "user", "content": message},
                    {"role": "assistant", "content": reply.text},
                ]

    await one_test(-1)  # warm the pool
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one_test(i) for i in range(tests)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await factory.aclose()
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lamdis_http.demo", "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        asyncio.run(_wait_ready(port))
        turns = args.tests * 3
        rates: list[float] = []
        cpus: list[float] = []
        server_cpus: list[float] = []
        server_process = psutil.Process(server.pid)
        for _ in range(args.rounds):
            before = sum(server_process.cpu_times()[:2])
            wall, cpu = asyncio.run(
                _round(f"http://127.0.0.1:{port}", args.tests, args.concurrency)
            )
            server_cpu = sum(server_process.cpu_times()[:2]) - before
            rates.append(turns / wall)
            cpus.append(cpu * 1000 / turns)
            server_cpus.append(server_cpu * 1000 / turns)
            print(
                f"{turns} turns in {wall:.3f} s: {turns / wall:.0f} turns/s, "
                f"CPU per turn: client {cpus[-1]:.3f} ms, demo server {server_cpus[-1]:.3f} ms"
            )
        print(
            f"median: {statistics.median(rates):.0f} turns/s, CPU per turn: client "
            f"{statistics.median(cpus):.3f} ms, demo server {statistics.median(server_cpus):.3f} ms"
        )
    finally:
        server.terminate()
        server.wait(timeout=5)


if __name__ == "__main__":
    main()
