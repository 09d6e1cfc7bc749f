"""``lamdis serve`` end to end: a real subprocess on a free port, driven like the seed's CI job.

The demo assistant runs in a thread of this process; the service, ``curl`` (the seed's exact
request) and ``lamdis wait`` run as subprocesses. The restart tests use PostgreSQL, the one
persistent store available here, and SIGKILL the service mid-run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lamdis_http.demo import start_demo_server

from tests.fixtures.servers import free_port
from tests.http._configs import write_config_tree

pytestmark = pytest.mark.e2e

TOKEN = "e2e-token"
CLI = [sys.executable, "-m", "lamdis_http.cli"]


class ThreadedDemo:
    """The demo assistant served from its own event loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.url = ""
        self.runner: Any = None

    def __enter__(self) -> ThreadedDemo:
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(start_demo_server("127.0.0.1", 0, 0), self.loop)
        self.runner, self.url = future.result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    with ThreadedDemo() as demo:
        yield demo.url


@pytest.fixture
def config_dir(tmp_path: Path, demo_url: str) -> Path:
    return write_config_tree(tmp_path / "configs", demo_url)


class Server:
    """One ``lamdis serve`` subprocess; its stderr (JSON logs) goes to a file."""

    def __init__(self, env: dict[str, str], log: Path, *, args: list[str] | None = None) -> None:
        self.port = int(env["PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log_file = log.open("ab")
        self.proc = subprocess.Popen(
            [*CLI, "serve", *(args or [])], env=env, stdout=self._log_file, stderr=self._log_file
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"lamdis serve exited with {self.proc.returncode}:\n{self.log.read_text()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise AssertionError(f"lamdis serve never became healthy:\n{self.log.read_text()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log_file.close()

    def terminate(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        self._log_file.close()
        return code

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


def base_env(config_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LAMDIS_", "DB_", "MONGO_", "DATABASE_", "JUDGE_", "OPENAI_"))
    }
    env.update(
        {
            "PORT": str(free_port()),
            "LAMDIS_CONFIG_DIR": str(config_dir),
            "LAMDIS_ORG_ID": "acme",
            "LAMDIS_API_TOKEN": TOKEN,
            "PYTHONUNBUFFERED": "1",
            "LAMDIS_DRAIN_SECONDS": "2",
        }
    )
    env.update(extra)
    return env


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.terminate()


def launch(
    servers: list[Server], env: dict[str, str], tmp_path: Path, *, args: list[str] | None = None
) -> Server:
    server = Server(env, tmp_path / f"serve-{len(servers)}.log", args=args)
    servers.append(server)
    server.wait_ready()
    return server


def api(server: Server, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        server.url + path,
        data=data,
        method=method,
        headers={"x-api-token": TOKEN, "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def seed_start(server: Server, suite_id: str, env_id: str | None) -> str:
    """The seed's GitHub Actions request: curl when installed, else the same request in Python."""
    body = (
        '{\n  "suiteId": "'
        + suite_id
        + '",\n'
        + ('  "envId": "' + env_id + '",\n' if env_id else "")
        + '  "trigger": "ci",\n  "gitContext": {\n    "repo": "owner/repo",\n'
        '    "sha": "0123456789abcdef",\n    "runId": "4242"\n  }\n}'
    )
    url = server.url + "/internal/runs/start"
    if shutil.which("curl"):
        out = subprocess.run(
            [
                "curl",
                "-sS",
                "-X",
                "POST",
                url,
                "-H",
                "content-type: application/json",
                "-H",
                f"x-api-token: {TOKEN}",
                "-d",
                body,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    else:
        request = urllib.request.Request(
            url,
            data=body.encode(),
            method="POST",
            headers={"content-type": "application/json", "x-api-token": TOKEN},
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            out = resp.read().decode()
    res = json.loads(out)
    assert res["status"] == "queued", res
    return str(res["runId"])


def lamdis_wait(
    server: Server, run_id: str, *, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAMDIS_API_TOKEN": TOKEN, "LAMDIS_SERVER": server.url}
    return subprocess.run(
        [*CLI, "wait", run_id, "--interval", "1", "--timeout", str(timeout)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout + 30,
    )


def wait_for_status(
    server: Server, run_id: str, wanted: set[str], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run: Any = None
    while time.monotonic() < deadline:
        status, run = api(server, "GET", f"/internal/runs/{run_id}")
        assert status == 200, run
        if run["status"] in wanted:
            return dict(run)
        time.sleep(0.05)
    raise AssertionError(f"run never reached {wanted}: {run}")


# --- in-memory store ---------------------------------------------------------------------------


def test_seed_ci_job_start_then_wait_passes(
    config_dir: Path, tmp_path: Path, servers: list[Server]
) -> None:
    server = launch(servers, base_env(config_dir, DB_PROVIDER="local"), tmp_path)
    run_id = seed_start(server, "smoke", "demo")
    waited = lamdis_wait(server, run_id)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert "status: passed" in waited.stdout
    status, run = api(server, "GET", f"/internal/runs/{run_id}")
    assert status == 200
    assert run["gitContext"] == {"repo": "owner/repo", "sha": "0123456789abcdef", "runId": "4242"}
    assert run["trigger"] == "ci" and run["totals"]["passed"] == 2
    # Logs: JSON lines with request ids, never the token.
    lines = server.log_lines()
    assert any(
        line["event"] == "service.composed"
        and line["store"] == "local"
        and line["judge"] == "offline"
        for line in lines
    )
    assert any(line["event"] == "http.request" and line.get("request_id") for line in lines)
    assert TOKEN not in server.log.read_text()


def test_wait_exits_1_for_a_failed_run_and_2_for_an_unknown_one(
    config_dir: Path, tmp_path: Path, servers: list[Server]
) -> None:
    server = launch(servers, base_env(config_dir), tmp_path)
    run_id = seed_start(server, "mixed", None)
    waited = lamdis_wait(server, run_id)
    assert waited.returncode == 1
    assert "status: failed" in waited.stdout
    unknown = lamdis_wait(server, "no-such-run")
    assert unknown.returncode == 2
    assert "404" in unknown.stderr


def test_stop_midway_marks_remaining_tests_skipped(
    config_dir: Path, tmp_path: Path, servers: list[Server]
) -> None:
    server = launch(servers, base_env(config_dir), tmp_path)
    run_id = seed_start(server, "slow", None)
    wait_for_status(server, run_id, {"running"})
    time.sleep(0.3)
    status, body = api(server, "POST", f"/internal/runs/{run_id}/stop")
    assert status == 200 and body["stopRequested"] is True
    waited = lamdis_wait(server, run_id)
    assert waited.returncode == 1
    assert "status: stopped" in waited.stdout
    _, run = api(server, "GET", f"/internal/runs/{run_id}")
    assert run["status"] == "stopped"
    assert run["totals"]["skipped"] >= 1
    assert len(run["items"]) == 6


def test_runs_list_and_show_commands(
    config_dir: Path, tmp_path: Path, servers: list[Server]
) -> None:
    server = launch(servers, base_env(config_dir), tmp_path)
    run_id = seed_start(server, "smoke", "demo")
    assert lamdis_wait(server, run_id).returncode == 0
    env = {**os.environ, "LAMDIS_API_TOKEN": TOKEN}
    listed = subprocess.run(
        [*CLI, "runs", "list", "--server", server.url, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)["runs"]] == [run_id]
    shown = subprocess.run(
        [*CLI, "runs", "show", run_id, "--server", server.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0 and "passed" in shown.stdout and "greets" in shown.stdout


def _non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            address = str(s.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_without_a_token_it_listens_on_loopback_only_and_says_so(
    config_dir: Path, tmp_path: Path, servers: list[Server]
) -> None:
    env = base_env(config_dir)
    del env["LAMDIS_API_TOKEN"]
    server = launch(servers, env, tmp_path, args=["--host", "0.0.0.0"])
    lines = server.log_lines()
    assert any(
        line["event"] == "serve.no_api_token" and line["level"] == "warning" for line in lines
    )
    listening = next(line for line in lines if line["event"] == "serve.listening")
    assert listening["url"].startswith("http://127.0.0.1:")
    other = _non_loopback_address()
    if other is None:
        pytest.skip("this machine has no non-loopback IPv4 address to prove the bind against")
    with pytest.raises(OSError), socket.create_connection((other, server.port), timeout=2):
        pass


def test_startup_errors_are_clear(config_dir: Path, tmp_path: Path) -> None:
    broken_dir = tmp_path / "broken"
    shutil.copytree(config_dir, broken_dir)
    (broken_dir / "suites" / "broken.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    cases = [
        ({"DB_PROVIDER": "cassandra"}, "DB_PROVIDER"),
        (
            {
                "DB_PROVIDER": "postgres",
                "DATABASE_URL": f"postgresql://lamdis:hunter2@127.0.0.1:{free_port()}/lamdis",
            },
            "postgres",
        ),
        ({"JUDGE_PROVIDER": "oracle"}, "JUDGE_PROVIDER"),
        ({"LAMDIS_MAX_RUNS": "many"}, "LAMDIS_MAX_RUNS"),
        ({"LAMDIS_MAX_COST_PER_RUN": "-1"}, "LAMDIS_MAX_COST_PER_RUN"),
        ({"LAMDIS_MAX_COST_PER_RUN": "abc"}, "LAMDIS_MAX_COST_PER_RUN"),
        # Fails after the store and judge were opened: they must be closed on the way out.
        (
            {
                "LAMDIS_MAX_COST_PER_RUN": "1",
                "JUDGE_PROVIDER": "external",
                "JUDGE_BASE_URL": f"http://127.0.0.1:{free_port()}/",
            },
            "LAMDIS_MAX_COST_PER_RUN",
        ),
        # Fails after every adapter (HTTP sessions included) was opened.
        ({"LAMDIS_CONFIG_DIR": str(broken_dir)}, "LAMDIS_CONFIG_DIR"),
    ]
    for extra, needle in cases:
        out = subprocess.run(
            [*CLI, "serve"],
            # Development mode makes an unclosed session or socket print a warning.
            env=base_env(config_dir, PYTHONDEVMODE="1", **extra),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2, (extra, out.stderr)
        assert needle in out.stderr, out.stderr
        assert "hunter2" not in out.stderr + out.stdout
        assert "Unclosed" not in out.stderr and "ResourceWarning" not in out.stderr, out.stderr


def test_with_an_hmac_secret_wait_signs_and_unsigned_requests_are_refused(
    config_dir: Path, tmp_path: Path, servers: list[Server]
) -> None:
    from lamdis_http._auth import signed_headers

    secret = "e2e-hmac-secret"
    server = launch(servers, base_env(config_dir, LAMDIS_HMAC_SECRET=secret), tmp_path)
    body = json.dumps({"suiteId": "smoke", "trigger": "ci"}).encode()
    unsigned = urllib.request.Request(
        server.url + "/internal/runs/start",
        data=body,
        method="POST",
        headers={"content-type": "application/json", "x-api-token": TOKEN},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unsigned, timeout=10)
    assert refused.value.code == 401
    signed = urllib.request.Request(
        server.url + "/internal/runs/start",
        data=body,
        method="POST",
        headers={
            "content-type": "application/json",
            "x-api-token": TOKEN,
            **signed_headers(secret, body),
        },
    )
    with urllib.request.urlopen(signed, timeout=10) as resp:
        run_id = json.loads(resp.read())["runId"]
    env = {
        **os.environ,
        "LAMDIS_API_TOKEN": TOKEN,
        "LAMDIS_HMAC_SECRET": secret,
        "LAMDIS_SERVER": server.url,
    }
    waited = subprocess.run(
        [*CLI, "wait", run_id, "--interval", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert waited.returncode == 0, waited.stderr
    assert "status: passed" in waited.stdout
    assert secret not in server.log.read_text()


@pytest.mark.postgres
def test_db_migrate_creates_the_tables_and_is_safe_to_repeat(empty_postgres_dsn: str) -> None:
    env = {**os.environ, "DATABASE_URL": empty_postgres_dsn}
    first = subprocess.run(
        [*CLI, "db", "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("applied: ")
    again = subprocess.run(
        [*CLI, "db", "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and "up to date" in again.stdout
    missing = subprocess.run(
        [*CLI, "db", "migrate"],
        env={k: v for k, v in env.items() if k != "DATABASE_URL"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "DATABASE_URL" in missing.stderr


def test_sigterm_lets_runs_in_flight_finish(
    config_dir: Path, tmp_path: Path, servers: list[Server]
) -> None:
    server = launch(servers, base_env(config_dir, LAMDIS_DRAIN_SECONDS="15"), tmp_path)
    run_id = seed_start(server, "slow", None)
    wait_for_status(server, run_id, {"running"})
    assert server.terminate() == 0
    lines = server.log_lines()
    assert any(line["event"] == "worker.draining" for line in lines)
    finished = [
        line for line in lines if line["event"] == "run.finished" and line["run_id"] == run_id
    ]
    assert finished and finished[0]["status"] == "passed"
    assert not any(line["event"] == "worker.run_interrupted_by_shutdown" for line in lines)


# --- PostgreSQL: a crash mid-run and a restart -------------------------------------------------


@pytest.mark.postgres
async def test_a_run_killed_mid_flight_is_requeued_on_restart_and_finishes(
    postgres_dsn: str, config_dir: Path, tmp_path: Path, servers: list[Server]
) -> None:
    env = base_env(config_dir, DATABASE_URL=postgres_dsn, LAMDIS_LEASE_SECONDS="2")
    imported = await asyncio.to_thread(
        subprocess.run,
        [*CLI, "import", str(config_dir), "--org", "acme"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr
    first = await asyncio.to_thread(launch, servers, env, tmp_path)
    run_id = await asyncio.to_thread(seed_start, first, "slow", None)
    await asyncio.to_thread(wait_for_status, first, run_id, {"running"})
    first.kill()
    # The killed instance's 2 s lease decides when the run is re-queued. The second keeps a
    # longer one: a renewal must answer within a third of the lease, and on a loaded machine
    # 0.67 s can pass, when it would give the run up and its third attempt is refused.
    second = await asyncio.to_thread(
        launch, servers, {**env, "LAMDIS_LEASE_SECONDS": "10"}, tmp_path
    )
    run = await asyncio.to_thread(
        wait_for_status, second, run_id, {"passed", "failed", "partial", "stopped"}, 60
    )
    assert run["status"] == "passed", run
    assert run["attempts"] == 2
    assert len(run["items"]) == 6  # the first attempt's items were cleared on re-queue
    assert any(
        line["event"] == "worker.recovered_run" and line["run_id"] == run_id
        for line in second.log_lines()
    )
    # Like the seed's `npm run wait`, `lamdis wait` can read the run from the database itself.
    db_env = {k: v for k, v in os.environ.items() if not k.startswith("LAMDIS_")}
    db_env["DATABASE_URL"] = postgres_dsn
    from_db = await asyncio.to_thread(
        subprocess.run,
        [*CLI, "wait", run_id, "--interval", "1"],
        env=db_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert from_db.returncode == 0, from_db.stderr
    assert "status: passed" in from_db.stdout


@pytest.mark.postgres
async def test_a_run_killed_twice_fails_as_interrupted(
    postgres_dsn: str, config_dir: Path, tmp_path: Path, servers: list[Server]
) -> None:
    env = base_env(config_dir, DATABASE_URL=postgres_dsn, LAMDIS_LEASE_SECONDS="2")
    imported = await asyncio.to_thread(
        subprocess.run,
        [*CLI, "import", str(config_dir), "--org", "acme"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr
    first = await asyncio.to_thread(launch, servers, env, tmp_path)
    run_id = await asyncio.to_thread(seed_start, first, "slow", None)
    await asyncio.to_thread(wait_for_status, first, run_id, {"running"})
    first.kill()
    second = await asyncio.to_thread(launch, servers, env, tmp_path)
    # Re-queued after the lease expires, claimed again (attempt 2), then killed again.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        _, run = await asyncio.to_thread(api, second, "GET", f"/internal/runs/{run_id}")
        if run["status"] == "running" and run.get("attempts") == 2:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"the run was not re-claimed: {run}")
    second.kill()
    third = await asyncio.to_thread(launch, servers, env, tmp_path)
    run = await asyncio.to_thread(wait_for_status, third, run_id, {"failed", "passed"}, 60)
    assert run["status"] == "failed"
    assert run["error"] == "interrupted"
    waited = await asyncio.to_thread(lamdis_wait, third, run_id)
    assert waited.returncode == 1 and "interrupted" in waited.stderr


# --- server limits (issue 16 item 3) -----------------------------------------------------------


def _read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    """What the server sends until it closes the connection; fails if it stays open."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open; got {received!r}") from None
    return received


def test_half_sent_requests_are_dropped_after_the_read_timeout(
    config_dir: Path, tmp_path: Path, servers: list[Server]
) -> None:
    """Headers that never finish and a body that never arrives are cut off after
    LAMDIS_READ_TIMEOUT_SECONDS (the body with a 408), each drop is logged, and the server
    goes on serving."""
    server = launch(servers, base_env(config_dir, LAMDIS_READ_TIMEOUT_SECONDS="1"), tmp_path)
    slow_headers = socket.create_connection(("127.0.0.1", server.port))
    slow_body = socket.create_connection(("127.0.0.1", server.port))
    try:
        slow_headers.sendall(b"POST /internal/runs/start HTTP/1.1\r\nHost: x\r\nx-api-")
        slow_body.sendall(
            b"POST /internal/runs/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"x-api-token: {TOKEN}\r\nContent-Length: 100\r\n\r\n".encode()
            + b'{"suiteId": '
        )
        assert _read_until_closed(slow_headers, timeout=10) == b""
        answer = _read_until_closed(slow_body, timeout=10)
    finally:
        slow_headers.close()
        slow_body.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"did not arrive within 1 s" in answer
    events = {(e["event"], e.get("reason")) for e in server.log_lines()}
    assert ("serve.connection_dropped", "headers_timeout") in events
    assert ("serve.request_dropped", "body_timeout") in events
    assert api(server, "GET", "/health")[0] == 200


def test_connections_beyond_the_cap_are_answered_503_and_logged(
    config_dir: Path, tmp_path: Path, servers: list[Server]
) -> None:
    """With LAMDIS_MAX_CONNECTIONS=3 and three connections held open, a fourth gets a 503
    problem and is closed; once one is released, requests are served again."""
    server = launch(servers, base_env(config_dir, LAMDIS_MAX_CONNECTIONS="3"), tmp_path)
    held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    try:
        for sock in held:
            sock.sendall(b"GET /health HTTP/1.1\r\n")  # and never finish
        time.sleep(0.5)  # let the server accept all three
        with socket.create_connection(("127.0.0.1", server.port)) as extra:
            extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = _read_until_closed(extra, timeout=10)
        assert answer.startswith(b"HTTP/1.1 503"), answer
        body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert body["status"] == 503 and "3 connections" in body["detail"]
    finally:
        held.pop().close()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                assert api(server, "GET", "/health")[0] == 200
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        for sock in held:
            sock.close()
    refused = [e for e in server.log_lines() if e["event"] == "serve.connection_refused"]
    assert refused and refused[0]["max_connections"] == 3
