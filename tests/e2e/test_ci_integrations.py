"""The CI integrations, exercised for real.

- actionlint (built with the Go toolchain by scripts/ensure-go-tools.sh) checks every
  workflow of the repository, which uses the composite action by path (so its metadata is
  checked too), and the workflows `lamdis init` scaffolds.
- The composite action's steps run as bash, as a runner would run them (the `uses:` steps
  aside), against the demo assistant and a `lamdis serve` subprocess.
- The GitLab CI template's jobs run their script lines the same way.
- The pre-commit hook runs through `pre-commit try-repo` in a scratch git repository.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_serve import TOKEN, Server, ThreadedDemo, base_env, launch
from tests.fixtures.go_tools import go_tool
from tests.http._configs import write_config_tree

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def actionlint() -> Path:
    return go_tool("actionlint")


def _lint(actionlint: Path, cwd: Path, *files: str) -> None:
    done = subprocess.run(
        [str(actionlint), "-no-color", *files],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_passes_on_every_workflow(actionlint: Path) -> None:
    workflows = sorted((REPO / ".github" / "workflows").glob("*.yml"))
    assert {p.name for p in workflows} >= {"ci.yml", "release.yml"}
    _lint(actionlint, REPO)  # every workflow; ci.yml uses ./ so action.yml is checked too


def test_actionlint_catches_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    """The check can fail: an unknown input of the local action is reported."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / "action.yml").write_text((REPO / "action.yml").read_text())
    broken = {
        "on": "push",
        "jobs": {
            "t": {"runs-on": "ubuntu-24.04", "steps": [{"uses": "./", "with": {"pathz": "x"}}]}
        },
    }
    (tmp_path / ".github" / "workflows" / "broken.yml").write_text(yaml.safe_dump(broken))
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    done = subprocess.run(
        [str(actionlint), "-no-color"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1 and "pathz" in done.stdout, done.stdout


@pytest.mark.parametrize("demo", [False, True], ids=["own-assistant", "demo"])
def test_actionlint_passes_on_the_workflow_init_scaffolds(
    actionlint: Path, tmp_path: Path, demo: bool
) -> None:
    root = tmp_path / "repo"
    subprocess.run(
        [sys.executable, "-m", "lamdis_http.cli", "init", str(root), *(["--demo"] if demo else [])],
        check=True,
        capture_output=True,
    )
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    _lint(actionlint, root, ".github/workflows/lamdis.yml")


# --- running the action's steps --------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> Iterator[str]:
    with ThreadedDemo() as served:
        yield served.url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo: str) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serve")
    config_dir = write_config_tree(tmp / "configs", demo)
    started: list[Server] = []
    try:
        yield launch(started, base_env(config_dir, DB_PROVIDER="local"), tmp)
    finally:
        for s in started:
            s.terminate()


_EXPR = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


class ActionRunner:
    """Runs a composite action's steps the way a runner does, minus the `uses:` steps."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.summary = workdir / "step_summary.md"
        self.uses: list[dict[str, Any]] = []
        self.outputs: dict[str, dict[str, str]] = {}

    def _value(self, expr: str, inputs: dict[str, str]) -> str:
        if expr.startswith("inputs."):
            return inputs[expr.removeprefix("inputs.")]
        found = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
        if found:
            return self.outputs.get(found.group(1), {}).get(found.group(2), "")
        raise AssertionError(f"the test does not evaluate {expr!r}")

    def _condition(self, condition: str, inputs: dict[str, str]) -> bool:
        python = re.sub(r"inputs\.([\w-]+)", lambda m: repr(inputs[m.group(1)]), condition).replace(
            "always()", "True"
        )
        python = python.replace("&&", " and ").replace("||", " or ")
        return bool(eval(python, {"__builtins__": {}}, {"True": True}))

    def run(self, action: dict[str, Any], given: dict[str, str]) -> int:
        inputs = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
        unknown = set(given) - set(inputs)
        assert not unknown, f"the action has no inputs {unknown}"
        inputs.update(given)
        code = 0
        for step in action["runs"]["steps"]:
            condition = step.get("if")
            if condition and not self._condition(condition, inputs):
                continue
            if "uses" in step:
                with_ = {
                    k: _EXPR.sub(lambda m: self._value(m.group(1), inputs), str(v))
                    for k, v in step.get("with", {}).items()
                }
                self.uses.append({"uses": step["uses"], "with": with_})
                continue
            assert step["shell"] == "bash"
            output = self.workdir / f"output-{len(self.outputs)}"
            output.write_text("")
            env = {
                **self.env,
                "GITHUB_OUTPUT": str(output),
                "GITHUB_STEP_SUMMARY": str(self.summary),
                **{
                    k: _EXPR.sub(lambda m: self._value(m.group(1), inputs), str(v))
                    for k, v in step.get("env", {}).items()
                },
            }
            assert "${{" not in step["run"], "run scripts take inputs through env only"
            script = self.workdir / "step.sh"
            script.write_text(step["run"])
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=self.workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
            self.outputs[step.get("id", f"step{len(self.outputs)}")] = dict(
                line.split("=", 1) for line in output.read_text().splitlines() if "=" in line
            )
            if done.returncode != 0:
                code = done.returncode
                break
        return code


def _action() -> dict[str, Any]:
    action: dict[str, Any] = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    return action


def _ci_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LAMDIS_", "GITHUB_", "GITLAB_", "CI_", "OPENAI_", "JUDGE_"))
    }
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra}


def test_action_run_mode_passes_writes_the_summary_and_uploads_the_reports(
    tmp_path: Path, demo: str
) -> None:
    runner = ActionRunner(tmp_path, _ci_env(LAMDIS_DEMO_URL=demo))
    suite = str(REPO / "examples" / "configs" / "suites" / "demo.json")
    code = runner.run(_action(), {"paths": suite, "install": ""})
    assert code == 0
    summary = json.loads((tmp_path / "lamdis-results" / "summary.json").read_text())
    # The offline judge leaves the LLM-only rubric unassessed: the run is partial, not failed.
    assert summary["status"] in ("passed", "partial")
    assert runner.outputs["lamdis"] == {"status": summary["status"], "exit-code": "0"}
    ET.parse(tmp_path / "lamdis-results" / "junit.xml")
    html = (tmp_path / "lamdis-results" / "report.html").read_text()
    assert html.lower().startswith("<!doctype html>") and summary["status"] in html
    assert "passed" in runner.summary.read_text().lower()
    assert [u["uses"] for u in runner.uses] == ["actions/upload-artifact@v4"]
    assert runner.uses[0]["with"]["path"] == "lamdis-results"


def test_action_run_mode_fails_the_job_when_a_test_fails(tmp_path: Path, demo: str) -> None:
    runner = ActionRunner(tmp_path, _ci_env(LAMDIS_DEMO_URL=demo))
    code = runner.run(
        _action(), {"paths": str(REPO / "examples" / "failing"), "install": "", "upload": "false"}
    )
    assert code == 1
    assert runner.outputs["lamdis"] == {"status": "failed", "exit-code": "1"}
    assert runner.uses == []  # upload: false
    junit = ET.parse(tmp_path / "lamdis-results" / "junit.xml").getroot()
    assert any(True for _ in junit.iter("failure"))


def test_action_without_paths_is_a_configuration_error(tmp_path: Path) -> None:
    runner = ActionRunner(tmp_path, _ci_env())
    assert runner.run(_action(), {"install": "", "upload": "false"}) == 2
    assert runner.outputs["lamdis"]["status"] == "error"


def test_action_start_mode_starts_waits_and_reports_the_run(tmp_path: Path, server: Server) -> None:
    runner = ActionRunner(tmp_path, _ci_env(GITHUB_ACTIONS="true", GITHUB_SHA="abc123"))
    code = runner.run(
        _action(),
        {
            "mode": "start",
            "server": server.url,
            "token": TOKEN,
            "suite": "smoke",
            "env": "demo",
            "timeout": "60",
            "install": "",
        },
    )
    assert code == 0, (tmp_path / "lamdis-results" / "start.log").read_text()
    outputs = runner.outputs["lamdis"]
    assert outputs["status"] == "passed" and outputs["run-id"]
    assert f"{outputs['run-id']}" in runner.summary.read_text()
    assert "status: passed" in runner.summary.read_text()


# --- the GitLab CI template ------------------------------------------------------------------


def _gitlab_job(name: str) -> dict[str, Any]:
    """A template job with `extends` resolved as GitLab does (deep-merged hashes)."""
    template = yaml.safe_load(
        (REPO / "ci-templates" / "gitlab" / "lamdis.gitlab-ci.yml").read_text()
    )

    def resolve(job: dict[str, Any]) -> dict[str, Any]:
        parent = job.get("extends")
        if not parent:
            return job
        base = resolve(template[parent])
        merged = {**base, **{k: v for k, v in job.items() if k != "extends"}}
        merged["variables"] = {**base.get("variables", {}), **job.get("variables", {})}
        return merged

    return resolve(template[name])


def _run_gitlab_job(job: dict[str, Any], workdir: Path, env: dict[str, str]) -> int:
    lines = [*job.get("before_script", []), *job["script"]]
    variables = {k: str(v) for k, v in job.get("variables", {}).items()}
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", "\n".join(lines)],
        cwd=workdir,
        env={**variables, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    (workdir / "job.log").write_text(done.stdout + done.stderr)
    return done.returncode


def test_gitlab_run_job_keeps_the_junit_report(tmp_path: Path, demo: str) -> None:
    job = _gitlab_job(".lamdis-run")
    env = _ci_env(
        LAMDIS_DEMO_URL=demo,
        LAMDIS_INSTALL="",
        LAMDIS_PATHS=str(REPO / "examples" / "configs" / "suites" / "demo.json"),
    )
    assert _run_gitlab_job(job, tmp_path, env) == 0, (tmp_path / "job.log").read_text()
    junit = tmp_path / job["artifacts"]["reports"]["junit"]
    assert ET.parse(junit).getroot().get("failures") == "0"
    assert (tmp_path / "lamdis-results" / "report.html").read_text().lower().startswith("<!doctype")
    assert job["artifacts"]["when"] == "always"
    assert all((tmp_path / p).exists() for p in job["artifacts"]["paths"])


def test_gitlab_run_job_without_paths_fails_saying_what_to_set(tmp_path: Path) -> None:
    job = _gitlab_job(".lamdis-run")
    assert _run_gitlab_job(job, tmp_path, _ci_env(LAMDIS_INSTALL="")) == 2
    assert "set LAMDIS_PATHS" in (tmp_path / "job.log").read_text()


def test_gitlab_start_job_records_the_pipeline(tmp_path: Path, server: Server) -> None:
    job = _gitlab_job(".lamdis-start")
    env = _ci_env(
        GITLAB_CI="true",
        CI_PROJECT_PATH="acme/bot",
        CI_COMMIT_SHA="f00d",
        CI_PIPELINE_ID="55",
        LAMDIS_INSTALL="",
        LAMDIS_SERVER=server.url,
        LAMDIS_API_TOKEN=TOKEN,
        LAMDIS_SUITE_ID="smoke",
        LAMDIS_ENV_ID="demo",
        LAMDIS_TIMEOUT="60",
    )
    assert _run_gitlab_job(job, tmp_path, env) == 0, (tmp_path / "job.log").read_text()
    assert "status: passed" in (tmp_path / "job.log").read_text()


# --- the pre-commit hook ---------------------------------------------------------------------


def test_pre_commit_hook_validates_the_files_a_commit_touches(tmp_path: Path) -> None:
    repo = tmp_path / "team"
    subprocess.run(
        [sys.executable, "-m", "lamdis_http.cli", "init", str(repo)],
        check=True,
        capture_output=True,
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    env = _ci_env(PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))

    def hook(*files: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "pre-commit"), "try-repo", str(REPO), "lamdis-validate", "--files", *files],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    good = hook("tests/smoke.yaml", "suites/smoke.yaml")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Passed" in good.stdout
    broken = (repo / "tests" / "smoke.yaml").read_text().replace("type: latency", "type: latencyy")
    (repo / "tests" / "smoke.yaml").write_text(broken)
    bad = hook("tests/smoke.yaml")
    assert bad.returncode == 1
    assert "unknown step type 'latencyy'" in bad.stdout
