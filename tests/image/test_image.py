"""The container image, run for real (``make image-test``).

This sandbox refuses ``podman run``; ``buildah run --isolation chroot`` runs the image's
filesystem, user and environment with the host's network, which is what these tests need:
the image's ``lamdis serve`` against the test PostgreSQL, started by the seed's curl request
and waited for by the image's own ``lamdis wait``; the image's ``lamdis run`` exporting its
spans to an OTLP/HTTP receiver on the host's loopback. Skipped unless ``LAMDIS_IMAGE`` names
the image (``make image-test`` sets it after ``make image``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.e2e.test_otel import OPENAI_KEY, PATH_TOKEN, Loopback, _tree
from tests.e2e.test_otel import loopback as loopback  # the fixture
from tests.e2e.test_serve import TOKEN, ThreadedDemo, seed_start
from tests.fixtures.servers import free_port
from tests.http._configs import write_config_tree

IMAGE = os.environ.get("LAMDIS_IMAGE", "")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not IMAGE, reason="make image-test runs these (LAMDIS_IMAGE unset)"),
]
CONFIGS_IN_IMAGE = "/srv/lamdis/configs"


def _inspect() -> dict[str, Any]:
    out = subprocess.run(
        ["podman", "image", "inspect", IMAGE], capture_output=True, text=True, check=True
    ).stdout
    data: dict[str, Any] = json.loads(out)[0]
    return data


class Container:
    """A working container of the image; commands run in it with ``buildah run``."""

    def __init__(self) -> None:
        self.id = subprocess.run(
            ["buildah", "from", "--pull=never", "--quiet", IMAGE],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def argv(self, *command: str, env: dict[str, str], volumes: dict[Path, str]) -> list[str]:
        argv = ["buildah", "run", "--isolation", "chroot"]
        for key, value in env.items():
            argv += ["--env", f"{key}={value}"]
        for host, inside in volumes.items():
            argv += ["--volume", f"{host}:{inside}:ro"]
        return [*argv, self.id, "--", *command]

    def run(
        self,
        *command: str,
        env: dict[str, str] | None = None,
        volumes: dict[Path, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*command, env=env or {}, volumes=volumes or {}),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def remove(self) -> None:
        subprocess.run(["buildah", "rm", self.id], capture_output=True, check=False)


@pytest.fixture(scope="module")
def container() -> Iterator[Container]:
    made = Container()
    try:
        yield made
    finally:
        made.remove()


def test_image_metadata() -> None:
    """Non-root, `lamdis serve` as entrypoint, a health check on /health, OCI labels, and
    nothing secret in its environment."""
    image = _inspect()
    config = image["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["lamdis", "serve"]
    assert "3101/tcp" in config["ExposedPorts"]
    assert config["StopSignal"] == "SIGTERM"
    health = image["Healthcheck"]["Test"]
    assert health[0] == "CMD" and "/health" in " ".join(health)
    labels = config["Labels"]
    for key in ("title", "description", "licenses", "source", "version", "revision", "created"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    # The extras it was built with, for the tests of optional parts (and for its users).
    assert {extra for extra in labels["org.lamdis.extras"].split(",") if extra} <= {
        "postgres",
        "mongo",
        "openai",
        "bedrock",
        "otel",
    }
    env = dict(item.split("=", 1) for item in config["Env"])
    secret_words = ("TOKEN", "SECRET", "PASSWORD", "DATABASE_URL", "MONGO_URL", "API_KEY")
    assert not [k for k in env if any(w in k for w in secret_words)], env
    assert env["LAMDIS_DRAIN_SECONDS"] == "20"


def test_runs_as_the_unprivileged_user(container: Container) -> None:
    done = container.run("id", "-u")
    assert done.stdout.strip() == "10001", done.stderr
    version = container.run("lamdis", "--version")
    assert version.returncode == 0 and version.stdout.startswith("lamdis "), version.stderr


def test_kept_botocore_models_are_the_ones_bedrock_needs(container: Container) -> None:
    """The image prunes botocore's API models; Bedrock's client and the credential chain's
    (STS, SSO) must still load."""
    script = (
        "import boto3\n"
        "s = boto3.session.Session(region_name='us-east-1', aws_access_key_id='x', "
        "aws_secret_access_key='y')\n"
        "print(sorted({'Converse', 'InvokeModel'} & set(s.client('bedrock-runtime').meta.service_model.operation_names)))\n"
        "print('AssumeRole' in s.client('sts').meta.service_model.operation_names)\n"
        "s.client('sso'); s.client('sso-oidc')\n"
    )
    done = container.run("python3", "-c", script)
    if "No module named 'boto3'" in done.stderr:
        pytest.skip("this image was built without the bedrock adapter")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["['Converse', 'InvokeModel']", "True"]


def _wait_healthy(url: str, process: subprocess.Popen[str], timeout: float = 30) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise AssertionError(f"lamdis serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise AssertionError("the container's lamdis serve never became healthy")


def _serve_process(buildah: subprocess.Popen[str]) -> psutil.Process:
    """The container's `lamdis serve` process (a descendant of `buildah run`), which a
    container runtime would signal as PID 1; `buildah run` itself does not forward signals."""
    for child in psutil.Process(buildah.pid).children(recursive=True):
        try:
            argv = child.cmdline()
        except psutil.NoSuchProcess:  # buildah's short-lived helpers come and go
            continue
        # buildah's own chroot helper carries the same arguments; the server is the Python
        # process running the image's `lamdis` script.
        if argv[:1] and "python" in argv[0] and argv[1:3] == ["/opt/lamdis/bin/lamdis", "serve"]:
            return child
    raise AssertionError("no lamdis serve process under buildah run")


@pytest.mark.postgres
def test_serve_against_postgres_drives_the_seed_ci_job(
    container: Container, empty_postgres_dsn: str, tmp_path: Path
) -> None:
    """Migrate and import with the image's CLI, serve, start a run with the seed's curl
    request, wait with the image's `lamdis wait`, check the health command, stop gracefully."""
    assert shutil.which("curl"), "the seed's start step is a curl command"
    with ThreadedDemo() as demo:
        configs = write_config_tree(tmp_path / "configs", demo.url)
        port = free_port()
        env = {
            "DATABASE_URL": empty_postgres_dsn,
            "LAMDIS_API_TOKEN": TOKEN,
            "PORT": str(port),
            "LAMDIS_DRAIN_SECONDS": "5",
        }
        volumes = {configs: CONFIGS_IN_IMAGE}
        migrated = container.run("lamdis", "db", "migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        imported = container.run(
            "lamdis", "import", CONFIGS_IN_IMAGE, "--org", "acme", env=env, volumes=volumes
        )
        assert imported.returncode == 0, imported.stderr
        log = (tmp_path / "serve.log").open("w")
        serve = subprocess.Popen(
            container.argv("lamdis", "serve", env=env, volumes=volumes),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            seconds = _wait_healthy(f"http://127.0.0.1:{port}", serve)
            print(f"time to healthy: {seconds:.2f} s")
            health = _inspect()["Healthcheck"]["Test"][1:]
            checked = container.run(*health, env={"PORT": str(port)})
            assert checked.returncode == 0, checked.stderr

            server = type("S", (), {"url": f"http://127.0.0.1:{port}"})()
            run_id = seed_start(server, "smoke", "demo")  # type: ignore[arg-type]
            waited = container.run(
                "lamdis", "wait", run_id, "--interval", "1", "--timeout", "60",
                env={"LAMDIS_SERVER": f"http://127.0.0.1:{port}", "LAMDIS_API_TOKEN": TOKEN},
                timeout=120,
            )  # fmt: skip
            assert waited.returncode == 0, waited.stdout + waited.stderr
            assert "status: passed" in waited.stdout

            started = time.monotonic()
            _serve_process(serve).send_signal(signal.SIGTERM)
            code = serve.wait(timeout=30)
            stopped_in = time.monotonic() - started
        finally:
            if serve.poll() is None:  # a failure above: stop the server inside, then buildah
                for child in psutil.Process(serve.pid).children(recursive=True):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        child.kill()
                serve.kill()
                serve.wait(timeout=10)
            log.close()
    output = (tmp_path / "serve.log").read_text()
    assert code == 0, output[-2000:]
    assert stopped_in < 5 + 2, f"stop took {stopped_in:.1f} s with LAMDIS_DRAIN_SECONDS=5"
    assert TOKEN not in output, "the token reached the logs"


def _skip_without(*extras: str) -> None:
    """Skips a test of optional parts the image was built without (per its
    ``org.lamdis.extras`` label; an image without the label is taken to have them)."""
    built_with = _inspect()["Config"]["Labels"].get("org.lamdis.extras")
    if built_with is not None and not set(extras) <= set(built_with.split(",")):
        pytest.skip(f"this image was built without {' or '.join(extras)} ({built_with})")


def test_every_opentelemetry_module_the_image_keeps_imports(container: Container) -> None:
    """The image prunes what trace export never loads (googleapis-common-protos, the semantic
    conventions' incubating modules other than otel_*): every module of the SDK, the OTLP/HTTP
    exporter and the API it keeps must still import. The gRPC stubs are left out: the image
    has no grpc, as lamdis exports over HTTP only."""
    _skip_without("otel")
    # Every .py file: several of these packages are namespace packages (no __init__.py),
    # which pkgutil's walk does not enter.
    script = (
        "import importlib, pathlib, opentelemetry\n"
        "failed, names = [], []\n"
        "for root in map(pathlib.Path, opentelemetry.__path__):\n"
        "    for file in sorted(root.rglob('*.py')):\n"
        "        parts = file.relative_to(root.parent).with_suffix('').parts\n"
        "        name = '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)\n"
        "        if name.endswith('_pb2_grpc'):\n"
        "            continue\n"
        "        try:\n"
        "            importlib.import_module(name)\n"
        "            names.append(name)\n"
        "        except Exception as exc:\n"
        "            failed.append(f'{name}: {exc!r}')\n"
        "print('\\n'.join(failed or names))\n"
        "raise SystemExit(1 if failed else 0)\n"
    )
    done = container.run("python3", "-c", script)
    assert done.returncode == 0, done.stdout + done.stderr
    imported = set(done.stdout.split())
    assert {
        "opentelemetry.sdk.trace",
        "opentelemetry.sdk.resources",
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
    } <= imported, sorted(imported)


def test_traces_from_the_image_reach_a_collector_on_loopback(
    container: Container, loopback: Loopback, tmp_path: Path
) -> None:
    """The image's ``lamdis run`` with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set: its spans (run,
    tests, turns, judge calls) arrive at the receiver on the host, and the trace id of each test
    is the one the assistant received in ``traceparent``."""
    _skip_without("otel", "openai")
    configs = tmp_path / "configs"  # tmp_path itself is private to the host's user
    _tree(configs, loopback.assistant_url)
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": loopback.receiver_url,
        "OTEL_SERVICE_NAME": "lamdis-image",
        "JUDGE_PROVIDER": "openai",
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE": loopback.openai.base_url,
        "OPENAI_MODEL": "gpt-4o-mini",
        "BOT_PATH_TOKEN": PATH_TOKEN,
    }
    done = container.run(
        "sh",
        "-c",
        f"cd {CONFIGS_IN_IMAGE} && exec lamdis run tests/traced.json --no-cache "
        "--results-dir /tmp/lamdis-results",
        env=env,
        volumes={configs: CONFIGS_IN_IMAGE},
    )
    assert done.returncode == 1, done.stdout + done.stderr  # "promises" fails, as intended
    assert "OpenTelemetry" not in done.stderr, done.stderr  # neither missing nor dropping
    spans = loopback.receiver.spans
    assert {s.resource["service.name"] for s in spans} == {"lamdis-image"}
    assert len(loopback.receiver.named("lamdis run")) == 1
    tests = [s for s in spans if s.name.startswith("lamdis test ")]
    assert sorted(t.attributes["lamdis.test.id"] for t in tests) == ["explains", "promises"]
    for test in tests:
        children = {s.name: s for s in spans if s.parent_span_id == test.span_id}
        assert set(children) == {"lamdis turn 1", "chat gpt-4o-mini"}
        turn = children["lamdis turn 1"]
        assert turn.attributes["http.response.status_code"] == 200
        assert f"00-{test.trace_id}-{turn.span_id}-01" in loopback.traceparents
        assert children["chat gpt-4o-mini"].attributes["gen_ai.usage.input_tokens"] == 1000
    assert len(loopback.traceparents) == 2
