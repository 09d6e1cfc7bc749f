"""``lamdis start`` against a real ``lamdis serve`` subprocess, as a CI job runs it.

The git context comes from the CI's own variables (a GitHub Actions and a GitLab CI job are
imitated by their environment), and what the server recorded is read back from the API.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from lamdis_http.cli._start import git_context

from tests.e2e.test_serve import CLI, TOKEN, Server, ThreadedDemo, api, base_env, launch
from tests.http._configs import write_config_tree

pytestmark = pytest.mark.e2e

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_REPOSITORY": "acme/bot",
    "GITHUB_SHA": "0123abcd",
    "GITHUB_RUN_ID": "777",
    "GITHUB_REF": "refs/pull/42/merge",
    "GITHUB_HEAD_REF": "feature/refunds",
    "GITHUB_REF_NAME": "42/merge",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_ACTOR": "octocat",
}
GITLAB = {
    "GITLAB_CI": "true",
    "CI_PROJECT_PATH": "acme/bot",
    "CI_COMMIT_SHA": "4567efab",
    "CI_PIPELINE_ID": "991",
    "CI_COMMIT_REF_NAME": "main",
    "CI_PIPELINE_URL": "https://gitlab.example.com/acme/bot/-/pipelines/991",
    "GITLAB_USER_LOGIN": "tanuki",
}


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LAMDIS_", "GITHUB_", "GITLAB_", "CI_"))
    }
    return {**env, **extra}


def start(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "start", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("start")
    with ThreadedDemo() as demo:
        config_dir = write_config_tree(tmp / "configs", demo.url)
        started: list[Server] = []
        try:
            yield launch(started, base_env(config_dir, DB_PROVIDER="local"), tmp)
        finally:
            for s in started:
                s.terminate()


def test_git_context_from_github_actions() -> None:
    assert git_context(GITHUB) == {
        "provider": "github",
        "repo": "acme/bot",
        "sha": "0123abcd",
        "runId": "777",
        "ref": "refs/pull/42/merge",
        "branch": "feature/refunds",
        "pullRequest": "42",
        "runUrl": "https://github.com/acme/bot/actions/runs/777",
        "actor": "octocat",
    }


def test_git_context_from_gitlab_ci_and_elsewhere() -> None:
    assert git_context(GITLAB) == {
        "provider": "gitlab",
        "repo": "acme/bot",
        "sha": "4567efab",
        "runId": "991",
        "ref": "main",
        "branch": "main",
        "runUrl": "https://gitlab.example.com/acme/bot/-/pipelines/991",
        "actor": "tanuki",
    }
    assert git_context({"CI": "true"}) == {}


def test_start_wait_from_github_actions_passes_and_records_the_context(
    server: Server, tmp_path: Path
) -> None:
    output = tmp_path / "github_output"
    env = _clean_env(
        **GITHUB,
        GITHUB_OUTPUT=str(output),
        LAMDIS_SERVER=server.url,
        LAMDIS_API_TOKEN=TOKEN,
        LAMDIS_SUITE_ID="smoke",
        LAMDIS_ENV_ID="demo",
    )
    done = start("--wait", "--interval", "1", "--timeout", "60", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = done.stdout.splitlines()[0]
    assert "status: passed" in done.stdout
    assert output.read_text() == f"run-id={run_id}\n"
    status, run = api(server, "GET", f"/internal/runs/{run_id}")
    assert status == 200
    assert run["status"] == "passed" and run["trigger"] == "ci"
    assert run["suiteId"] == "smoke" and run["envId"] == "demo"
    assert run["gitContext"] == git_context(GITHUB)


def test_start_without_wait_prints_the_run_id_at_once(server: Server) -> None:
    env = _clean_env(**GITLAB, LAMDIS_API_TOKEN=TOKEN)
    done = start("--server", server.url, "--suite", "smoke", "--env", "demo", env=env)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    status, run = api(server, "GET", f"/internal/runs/{run_id}")
    assert status == 200 and run["gitContext"]["provider"] == "gitlab"


@pytest.mark.parametrize(
    ("args", "extra", "named"),
    [
        ((), {"LAMDIS_SUITE_ID": "smoke"}, "LAMDIS_SERVER"),
        (("--server", "http://127.0.0.1:9"), {}, "LAMDIS_SUITE_ID"),
    ],
    ids=["no-server", "no-suite"],
)
def test_missing_settings_exit_2_naming_what_to_set(
    args: tuple[str, ...], extra: dict[str, str], named: str
) -> None:
    done = start(*args, env=_clean_env(**extra))
    assert done.returncode == 2
    assert named in done.stderr
    assert done.stdout == ""


def test_a_refused_token_exits_2_naming_the_token(server: Server) -> None:
    env = _clean_env(LAMDIS_API_TOKEN="wrong", LAMDIS_SERVER=server.url)
    done = start("--suite", "smoke", env=env)
    assert done.returncode == 2
    assert "LAMDIS_API_TOKEN" in done.stderr and "401" in done.stderr


def test_an_unknown_suite_exits_2_and_starts_nothing(server: Server) -> None:
    env = _clean_env(LAMDIS_API_TOKEN=TOKEN, LAMDIS_SERVER=server.url)
    before = api(server, "GET", "/internal/runs?limit=200")[1]
    done = start("--suite", "no-such-suite", env=env)
    assert done.returncode == 2
    assert "404" in done.stderr
    assert api(server, "GET", "/internal/runs?limit=200")[1] == before
