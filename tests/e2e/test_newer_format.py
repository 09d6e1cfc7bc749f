"""Test files in the newer lamdis format, run with ``lamdis run`` against the demo assistant:
user_objective loops (reached, never reached, stopped by a failing attached check),
variable_check with every operator true and false, every data generator under ``--seed``,
and ``lamdis validate`` naming bad input. The files are YAML written here from the format's
documented shape."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import _json, _run, _tree, demo_url

pytestmark = pytest.mark.e2e

__all__ = ["demo_url"]  # the module fixture, shared

REQUESTS = """\
authRef: auth/demo-static
requests:
  - id: accounts.open
    transport:
      mode: direct
      http:
        method: POST
        base_url: ${LAMDIS_DEMO_URL}
        path: /accounts
        headers: {content-type: application/json}
        body: {id: "{id}", risk_level: "{risk}", status: open}
"""

AUTH = '{"id": "auth/demo-static", "headers": {"Authorization": "Bearer demo-token"}}'

OBJECTIVES = """\
assistantRef: assistants/demo
tests:
  - id: reached
    maxTurns: 6
    steps:
      - {type: message, content: hello}
      - type: user_objective
        name: learn
        objective: learn about diversification
        minTurns: 2
        maxTurns: 5
        attachedChecks:
          - {type: assistant_check, mode: includes, includes: "spreading, broad funds"}
      - {type: message, content: "What is the risk of one stock?"}
      - {type: assistant_check, mode: includes, includes: concentrates, scope: last}
  - id: never-reached
    steps:
      - type: user_objective
        objective: get a refund for my order
        maxTurns: 3
        attachedChecks:
          - {type: assistant_check, rubric: refund processed, scope: last}
  - id: exit-on-fail
    steps:
      - type: user_objective
        name: drift
        description: talk about diversification
        maxTurns: 5
        exitOnPass: false
        exitOnFail: true
        attachedChecks:
          - {type: assistant_check, mode: includes, includes: spreading, scope: last, name: on-topic}
      - {type: message, content: "thanks, bye"}
"""

# Each operator once true (in "all-true") and once false (in "all-false"). The account is
# created by a preStep with a generated id; its reply is steps.review.output.
_TRUE = [
    ("eq", "preSteps.create.output.risk_level", "high"),
    ("eq", "var.created.id", "${var.acct}"),
    ("neq", "var.created.status", "closed"),
    ("gt", "steps.review.output.turn", "0"),
    ("gte", "steps.review.output.turn", "1"),
    ("lt", "steps.review.output.turn", "1.5"),
    ("lte", "steps.review.output.turn", "1"),
    ("contains", "lastAssistant", "risk level high"),
    ("not_contains", "lastAssistant", "guaranteed"),
    ("regex", "var.acct", "^acct-[0-9]{6}$"),
    ("exists", "preSteps.create.output.id", None),
    ("not_exists", "preSteps.create.output.owner", None),
]
_FALSE = [
    ("eq", "preSteps.create.output.risk_level", "low"),
    ("neq", "var.created.status", "open"),
    ("gt", "steps.review.output.turn", "1"),
    ("gte", "steps.review.output.turn", "2"),
    ("lt", "steps.review.output.turn", "1"),
    ("lte", "steps.review.output.turn", "0.5"),
    ("contains", "lastAssistant", "guaranteed"),
    ("not_contains", "lastAssistant", "risk level high"),
    ("regex", "var.acct", "^ACCT"),
    ("exists", "preSteps.create.output.owner", None),
    ("not_exists", "preSteps.create.output.id", None),
]


def _checks(cases: list[tuple[str, str, str | None]], prefix: str) -> str:
    lines = []
    for n, (operator, path, right) in enumerate(cases):
        value = "" if right is None else f', rightValue: "{right}"'
        lines.append(
            f"      - {{type: assistant_check, mode: variable_check, name: {prefix}-{n}-{operator}, "
            f"variablePath: {path}, operator: {operator}{value}}}"
        )
    return "\n".join(lines)


def _operator_test(test_id: str, cases: list[tuple[str, str, str | None]]) -> str:
    return f"""\
  - id: {test_id}
    variables:
      - {{key: acct, value: "acct-${{randInt(6)}}", description: a fresh account id}}
    preSteps:
      - type: request
        name: create
        requestId: accounts.open
        inputMappings: {{id: "${{var.acct}}", risk: high}}
        saveAs: created
    steps:
      - {{type: message, name: review, content: "Please review account ${{var.acct}}"}}
{_checks(cases, test_id)}
"""


OPERATORS = (
    "assistantRef: assistants/demo\n"
    "imports: {requests: [requests/newer]}\n"
    "tests:\n" + _operator_test("all-true", _TRUE) + _operator_test("all-false", _FALSE)
)

_GENERATED = {
    "uuid": ("${uuid}", r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"),
    "digits": ("${randInt(5)}", r"[1-9][0-9]{4}"),
    "span": ("${randInt(2,3)}", r"[1-9][0-9]{1,2}"),
    "dec": ("${randDec(3,2)}", r"[1-9][0-9]{2}\.[0-9]{2}"),
    "str": ("${randStr(10)}", r"[A-Za-z0-9]{10}"),
    "pick": ("${randFrom(red,green,blue)}", r"red|green|blue"),
    "mail": ("${email}", r"test_[0-9a-f]{8}@test\.lamdis\.io"),
    "today": ("${today}", r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "tomorrow": ("${tomorrow}", r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "yesterday": ("${yesterday}", r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "week": ("${daysFromNow(7)}", r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "now": ("${now}", r"[0-9-]{10}T[0-9:]{8}\.[0-9]{3}Z"),
    "iso": ("${isoDate}", r"[0-9-]{10}T[0-9:]{8}\.[0-9]{3}Z"),
    "ts": ("${timestamp}", r"[0-9]{10}"),
    "tsms": ("${timestampMs}", r"[0-9]{13}"),
}
_RANDOM = ("uuid", "digits", "span", "dec", "str", "pick", "mail")


def _generators() -> str:
    variables = "\n".join(
        f'      - {{key: {key}, value: "{expr}"}}' for key, (expr, _) in _GENERATED.items()
    )
    checks = "\n".join(
        f"      - {{type: assistant_check, mode: variable_check, name: shape-{key}, "
        f"variablePath: var.{key}, operator: regex, rightValue: '^({shape})$'}}"
        for key, (_, shape) in _GENERATED.items()
    )
    said = " ".join(f"{key}=${{var.{key}}}" for key in _RANDOM)
    return f"""\
assistantRef: assistants/demo
tests:
  - id: generators
    variables:
{variables}
    steps:
      - {{type: message, content: "hello {said}"}}
{checks}
"""


def _newer_tree(root: Path) -> None:
    _tree(root)
    (root / "auth").mkdir(exist_ok=True)
    (root / "auth/demo-static.json").write_text(AUTH, encoding="utf-8")
    (root / "requests").mkdir(exist_ok=True)
    (root / "requests/newer.yaml").write_text(REQUESTS, encoding="utf-8")
    (root / "tests/objectives.yaml").write_text(OBJECTIVES, encoding="utf-8")
    (root / "tests/operators.yaml").write_text(OPERATORS, encoding="utf-8")
    (root / "tests/generators.yaml").write_text(_generators(), encoding="utf-8")


def _items(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["testId"]: item for item in summary["items"]}


def _users(item: dict[str, Any]) -> list[str]:
    return [t["content"] for t in item["transcript"] if t["role"] == "user"]


def _deciding(item: dict[str, Any], step: int) -> list[dict[str, Any]]:
    return [
        a
        for a in item["assertions"]
        if a["details"].get("step") == step and a["severity"] == "error"
    ]


def test_user_objectives_reach_miss_and_stop_on_a_failing_check(
    tmp_path: Path, demo_url: str
) -> None:
    _newer_tree(tmp_path)
    proc = _run(
        ["run", "tests/objectives.yaml", "--json", "s.json"], cwd=tmp_path, demo_url=demo_url
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    items = _items(_json(tmp_path / "s.json"))

    reached = items["reached"]
    assert reached["status"] == "passed", reached
    # hello, then two objective turns (minTurns 2, passed at the second), then the scripted
    # step after it: the loop ended before its maxTurns of 5.
    users = _users(reached)
    assert len(users) == 4 and users[0] == "hello" and users[-1].startswith("What is the risk")
    assert "diversification" in users[1].lower()
    final = _deciding(reached, 1)
    assert [(a["pass"], a["details"]["turn"]) for a in final] == [(True, 2)]

    never = items["never-reached"]
    assert never["status"] == "failed"
    users = _users(never)
    assert len(users) == 3 and len(set(users)) == 3  # maxTurns, and never the same message
    assert [a["pass"] for a in _deciding(never, 0)] == [False]
    assert "3 turns, maxTurns reached" in "\n".join(never["artifacts"]["log"])

    drift = items["exit-on-fail"]
    assert drift["status"] == "failed"
    users = _users(drift)
    assert len(users) == 3 and users[-1] == "thanks, bye"  # 2 objective turns, then the step
    rounds = [a for a in drift["assertions"] if a["name"] == "on-topic"]
    assert [(a["pass"], a["severity"]) for a in rounds] == [(True, "info"), (False, "error")]


def test_every_variable_check_operator_is_true_and_false_against_the_demo(
    tmp_path: Path, demo_url: str
) -> None:
    _newer_tree(tmp_path)
    proc = _run(
        ["run", "tests/operators.yaml", "--json", "s.json"], cwd=tmp_path, demo_url=demo_url
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    items = _items(_json(tmp_path / "s.json"))
    true, false = items["all-true"], items["all-false"]
    assert true["status"] == "passed", [a for a in true["assertions"] if not a["pass"]]
    assert len(true["assertions"]) == len(_TRUE)
    assert false["status"] == "failed"
    assert [a["pass"] for a in false["assertions"]] == [False] * len(_FALSE)
    operators = {"eq", "neq", "gt", "gte", "lt", "lte", "contains", "not_contains", "regex",
                 "exists", "not_exists"}  # fmt: skip
    for item in (true, false):
        assert {a["details"]["operator"] for a in item["assertions"]} == operators
    account = true["assertions"][1]["details"]["rightValue"]
    assert re.fullmatch(r"acct-[0-9]{6}", account)
    assert f"account {account}" in _users(true)[0]


def test_every_generator_is_reproducible_with_a_seed_and_the_seed_is_reported(
    tmp_path: Path, demo_url: str
) -> None:
    _newer_tree(tmp_path)

    def run(seed: str, name: str) -> tuple[dict[str, Any], str]:
        proc = _run(
            ["run", "tests/generators.yaml", "--seed", seed, "--json", f"{name}.json",
             "--junit", f"{name}.xml", "--markdown", f"{name}.md"],
            cwd=tmp_path,
            demo_url=demo_url,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        summary = _json(tmp_path / f"{name}.json")
        return summary, _users(summary["items"][0])[0]

    first, said = run("7", "a")
    _again, said_again = run("7", "b")
    other, said_other = run("8", "c")
    assert first["items"][0]["status"] == "passed"
    assert len(first["items"][0]["assertions"]) == len(_GENERATED)
    assert said == said_again and said != said_other
    for key in _RANDOM:
        assert re.search(rf"\b{key}=\S", said)
    assert first["seed"] == 7 and other["seed"] == 8
    junit = ET.parse(tmp_path / "a.xml").getroot()
    assert {p.get("name"): p.get("value") for p in junit.iter("property")}["seed"] == "7"
    assert "**Seed:** 7" in (tmp_path / "a.md").read_text(encoding="utf-8")

    unseeded = _run(
        ["run", "tests/generators.yaml", "--json", "d.json"], cwd=tmp_path, demo_url=demo_url
    )
    assert unseeded.returncode == 0, unseeded.stdout + unseeded.stderr
    assert isinstance(_json(tmp_path / "d.json")["seed"], int)

    bad = _run(["run", "tests/generators.yaml", "--seed", "soon"], cwd=tmp_path, demo_url=demo_url)
    assert bad.returncode == 2 and "--seed must be an integer" in bad.stderr


def test_validate_names_where_the_newer_format_is_wrong_and_what_was_expected(
    tmp_path: Path, demo_url: str
) -> None:
    _newer_tree(tmp_path)
    (tmp_path / "tests/bad.yaml").write_text(
        """\
assistantRef: assistants/demo
tests:
  - id: bad
    variables:
      - {key: id, value: "${randInt(x)}"}
      - {key: when, value: "${daysFromNow()}"}
    steps:
      - {type: message, content: hi}
      - {type: assistant_check, mode: variable_check, variablePath: var.id, operator: equals}
      - {type: user_objective, objective: o, minTurns: 4, maxTurns: 2}
""",
        encoding="utf-8",
    )
    proc = _run(["validate", "tests/bad.yaml"], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    said = proc.stdout + proc.stderr
    assert (
        "tests/bad.yaml:5 at $.tests[0].variables[0].value: randInt expects whole numbers "
        "(randInt(n) or randInt(a,b)), got 'x'" in said
    )
    assert "tests/bad.yaml:6 at $.tests[0].variables[1].value: daysFromNow takes 1" in said
    assert "tests/bad.yaml:9 at $.tests[0].steps[1].operator: expected one of 'eq'" in said
    assert "got the string 'equals'" in said
    assert (
        "tests/bad.yaml:10 at $.tests[0].steps[2].minTurns: minTurns (4) is larger than "
        "maxTurns (2)" in said
    )
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites/nightly.yaml").write_text(
        """\
assistants: {include: [assistants/demo]}
tests: {includeIds: [reached]}
schedule: {periodMinutes: 0.5}
""",
        encoding="utf-8",
    )
    (tmp_path / "suites/weekly.yaml").write_text(
        """\
assistants: {include: [assistants/demo]}
tests: {includeIds: [reached]}
schedule: {cron: "0 25 * * 1"}
""",
        encoding="utf-8",
    )
    proc = _run(["validate", "suites"], cwd=tmp_path, demo_url=demo_url)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 2, said
    assert (
        "suites/nightly.yaml:3 at $.schedule.periodMinutes: periodMinutes must be at least 1 "
        "(one minute), got 0.5" in said
    )
    assert "suites/weekly.yaml:3 at $.schedule.cron: invalid cron expression: hour: '25'" in said
    good = _run(
        ["validate", "tests/objectives.yaml", "tests/operators.yaml", "tests/generators.yaml"],
        cwd=tmp_path,
        demo_url=demo_url,
    )
    assert good.returncode == 0, good.stdout + good.stderr
