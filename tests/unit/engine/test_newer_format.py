"""The newer lamdis format in the engine: variables with generators, preSteps, input mappings
and reply paths per turn, assistant_check's three modes and the user_objective loop."""

from __future__ import annotations

from typing import Any

import pytest
from lamdis_core.domain.results import ItemStatus
from lamdis_core.engine._objective import NEUTRAL_PROMPTS
from lamdis_core.ports.requester import HttpCall
from lamdis_core.testing.fakes import FakeRequester, ScriptedJudge

from tests.unit.engine.test_engine import engine_with, make_test, plan_of

REQUESTS = {
    "orders.create": {
        "id": "orders.create",
        "transport": {"http": {"method": "POST", "full_url": "http://api.invalid/orders"}},
    },
}


def order_route(call: HttpCall) -> Any:
    body = call.json or {}
    return {
        "id": body.get("customer", "?"),
        "total": 42.5,
        "count": 3,
        "open": True,
        "note": None,
        "items": [{"id": "sku-1", "qty": 2}, {"id": "sku-2", "qty": 1}],
        "status": "confirmed",
    }


def entry_requests() -> dict[str, Any]:
    from lamdis_core.domain import config as c
    from lamdis_core.domain.convert import make_converter

    conv = make_converter()
    return {k: conv.structure(v, c.RequestDef) for k, v in REQUESTS.items()}


async def run_one(test: Any, **kw: Any) -> Any:
    engine, factory, _clock = engine_with(**kw)
    result = await engine.run(plan_of(test, requests=entry_requests()), seed=kw.get("seed", 5))
    return result, factory


async def test_variables_are_drawn_once_before_pre_steps_and_reproducible_by_seed() -> None:
    requester = FakeRequester(order_route)
    test = make_test(
        variables=[{"key": "customer", "value": "cust-${randInt(6)}"}],
        preSteps=[
            {
                "type": "request",
                "name": "order",
                "requestId": "orders.create",
                "inputMappings": {"customer": "${var.customer}"},
                "saveAs": "created",
            }
        ],
        steps=[
            {"type": "message", "content": "order ${preSteps.order.output.id} for ${var.customer}"},
            {
                "type": "assistant_check",
                "mode": "variable_check",
                "variablePath": "var.created.id",
                "operator": "eq",
                "rightValue": "${var.customer}",
            },
        ],
    )
    engine, factory, _ = engine_with(requester=requester)
    first = await engine.run(plan_of(test, requests=entry_requests()), seed=11)
    item = first.items[0]
    assert item.status is ItemStatus.PASSED, item.error or item.assertions
    sent_customer = requester.calls[0].json["customer"]
    assert sent_customer.startswith("cust-") and len(sent_customer) == 11
    assert (
        factory.targets["bot"].requests[0].message == f"order {sent_customer} for {sent_customer}"
    )
    assert first.seed == 11

    again = await engine.run(plan_of(test, requests=entry_requests()), seed=11)
    other = await engine.run(plan_of(test, requests=entry_requests()), seed=12)
    assert requester.calls[1].json["customer"] == sent_customer
    assert requester.calls[2].json["customer"] != sent_customer
    assert again.items[0].status is other.items[0].status is ItemStatus.PASSED


async def test_a_run_without_a_seed_picks_one_and_reports_it() -> None:
    engine, _, _ = engine_with()
    result = await engine.run(plan_of(make_test(steps=[{"type": "message", "content": "hi"}])))
    assert isinstance(result.seed, int)


async def test_a_failing_pre_step_makes_the_test_an_error_before_any_turn() -> None:
    requester = FakeRequester()  # no route: every call fails
    test = make_test(
        preSteps=[{"type": "request", "name": "setup", "requestId": "orders.create"}],
        steps=[{"type": "message", "content": "hi"}],
    )
    engine, _factory, _ = engine_with(requester=requester)
    result = await engine.run(plan_of(test, requests=entry_requests()))
    item = result.items[0]
    assert item.status is ItemStatus.ERROR and "orders.create" in (item.error or "")
    assert item.message_counts.user == 0


async def test_input_mappings_and_reply_path_travel_with_the_turn() -> None:
    test = make_test(
        variables=[{"key": "conv", "value": "c-${randStr(6)}"}],
        steps=[
            {
                "type": "message",
                "name": "first",
                "content": "hello",
                "assistantInputMappings": {"conversationId": "${var.conv}", "channel": "web"},
                "responseFieldPath": "data.text",
            },
            {"type": "message", "content": "again"},
            {
                "type": "assistant_check",
                "mode": "variable_check",
                "variablePath": "steps.first.output",
                "operator": "exists",
            },
        ],
    )
    result, factory = await run_one(test)
    assert result.items[0].status is ItemStatus.PASSED, result.items[0].assertions
    first, second = factory.targets["bot"].requests
    assert first.extra["channel"] == "web" and first.extra["conversationId"].startswith("c-")
    assert first.reply_path == "data.text"
    assert second.extra == {} and second.reply_path is None


# --- assistant_check: variable_check with every operator, true and false --------------------

CASES = [
    ("eq", "var.o.status", "confirmed", "pending"),
    ("eq", "var.o.items[1].id", "sku-2", "sku-1"),
    ("eq", "var.o.count", "3", "4"),
    ("eq", "var.o.open", "true", "false"),
    ("eq", "var.o.items[0]", '{"id": "sku-1", "qty": 2}', '{"id": "sku-1"}'),
    ("neq", "var.o.status", "pending", "confirmed"),
    ("gt", "var.o.total", "42", "42.5"),
    ("gte", "var.o.total", "42.5", "43"),
    ("lt", "var.o.items[0].qty", "3", "2"),
    ("lte", "var.o.count", "3", "2.9"),
    ("contains", "var.o.status", "firm", "FIRM"),
    ("contains", "var.o.items", "sku-2", "sku-3"),
    ("not_contains", "var.o.status", "cancel", "conf"),
    ("regex", "var.o.items[0].id", r"^sku-\d$", r"^SKU"),
    ("exists", "var.o.items[1].id", None, None),
    ("not_exists", "var.o.items[5].id", None, None),
]


@pytest.mark.parametrize(("operator", "path", "true_value", "false_value"), CASES)
async def test_every_operator_is_true_and_false(
    operator: str, path: str, true_value: str | None, false_value: str | None
) -> None:
    def check(value: str | None, name: str, check_path: str = path) -> dict[str, Any]:
        step: dict[str, Any] = {
            "type": "assistant_check",
            "mode": "variable_check",
            "name": name,
            "variablePath": check_path,
            "operator": operator,
        }
        if value is not None:
            step["rightValue"] = value
        return step

    # exists/not_exists take no right value: their "false" case is the other path.
    flipped = {
        "exists": "var.o.items[5].id",
        "not_exists": "var.o.items[1].id",
    }.get(operator, path)
    test = make_test(
        steps=[
            {
                "type": "request",
                "requestId": "orders.create",
                "input": {"customer": "c"},
                "assign": "o",
            },
            check(true_value, "true"),
            check(false_value, "false", flipped),
        ]
    )
    result, _ = await run_one(test, requester=FakeRequester(order_route))
    verdicts = {ch.name: ch for ch in result.items[0].assertions}
    assert verdicts["true"].passed, verdicts["true"].details
    assert not verdicts["false"].passed, verdicts["false"].details
    assert verdicts["true"].type == "assistant_check"
    assert verdicts["true"].subtype == "variable_check"
    assert result.items[0].status is ItemStatus.FAILED


async def test_a_variable_that_is_not_set_fails_even_eq_empty_and_numbers_need_numbers() -> None:
    test = make_test(
        steps=[
            {"type": "message", "content": "hi"},
            {
                "type": "assistant_check",
                "mode": "variable_check",
                "name": "unset",
                "variablePath": "var.nothing",
                "rightValue": "",
            },
            {
                "type": "assistant_check",
                "mode": "variable_check",
                "name": "words",
                "variablePath": "lastUser",
                "operator": "gt",
                "rightValue": "1",
                "severity": "warn",
            },
        ]
    )
    result, _ = await run_one(test)
    unset, words = result.items[0].assertions
    assert not unset.passed and "not set" in unset.details["reasoning"]
    assert not words.passed and words.severity == "warn"
    assert "'hi' is not one" in words.details["reasoning"]


async def test_includes_mode_takes_comma_separated_keywords_over_the_transcript() -> None:
    test = make_test(
        steps=[
            {"type": "message", "content": "alpha"},
            {"type": "message", "content": "beta"},
            {
                "type": "assistant_check",
                "mode": "includes",
                "name": "both",
                "includes": "Alpha, beta",
            },
            {
                "type": "assistant_check",
                "mode": "includes",
                "name": "last",
                "includes": ["alpha"],
                "scope": "last",
            },
        ]
    )
    result, _ = await run_one(test)
    both, last = result.items[0].assertions
    assert both.passed and both.subtype == "includes" and both.details["scope"] == "transcript"
    assert not last.passed and last.details["missing"] == ["alpha"]


async def test_judge_mode_defaults_to_the_last_reply_at_0_75() -> None:
    judge = ScriptedJudge([0.74])
    test = make_test(
        steps=[
            {"type": "message", "content": "hi"},
            {"type": "assistant_check", "rubric": "says hi"},
        ]
    )
    result, _ = await run_one(test, judge=judge)
    assert judge.requests[0].scope == "last" and judge.requests[0].threshold == 0.75
    assert result.items[0].status is ItemStatus.FAILED


# --- user_objective -------------------------------------------------------------------------


def objective_test(**step: Any) -> Any:
    return make_test(
        maxTurns=6,
        steps=[
            {"type": "message", "content": "before"},
            {"type": "user_objective", "name": "goal", "objective": "open an account", **step},
            {"type": "message", "content": "after"},
        ],
    )


async def test_an_objective_reached_before_max_turns_ends_the_loop_and_passes() -> None:
    judge = ScriptedJudge([0.2, 0.3, 0.9], next_messages=["tell me more", "and then?"])
    result, factory = await run_one(objective_test(maxTurns=5), judge=judge)
    item = result.items[0]
    sent = [r.message for r in factory.targets["bot"].requests]
    assert sent == ["before", "Hello, I need help.", "tell me more", "and then?", "after"]
    assert item.status is ItemStatus.PASSED
    rounds = [ch for ch in item.assertions if ch.details.get("step") == 1]
    assert [ch.severity for ch in rounds] == ["info", "info", "error"]
    assert [ch.details["turn"] for ch in rounds] == [1, 2, 3]


async def test_an_objective_never_reached_stops_at_max_turns_and_fails() -> None:
    judge = ScriptedJudge([0.1], next_messages=["one", "two", "three"])
    result, factory = await run_one(objective_test(maxTurns=3), judge=judge)
    sent = [r.message for r in factory.targets["bot"].requests]
    assert sent == ["before", "Hello, I need help.", "one", "two", "after"]
    assert result.items[0].status is ItemStatus.FAILED
    assert "3 turns, maxTurns reached" in "\n".join(result.items[0].artifacts.log)


async def test_min_turns_keep_a_pass_from_ending_the_loop_early() -> None:
    judge = ScriptedJudge([1.0], next_messages=["more", "more please"])
    result, factory = await run_one(objective_test(minTurns=3, maxTurns=5), judge=judge)
    assert len(factory.targets["bot"].requests) == 5  # before, 3 objective turns, after
    assert result.items[0].status is ItemStatus.PASSED


async def test_attached_checks_failing_mid_loop_with_exit_on_fail_end_it_and_fail() -> None:
    judge = ScriptedJudge([1.0, 0.2, 1.0], next_messages=["second"])
    step = {
        "maxTurns": 5,
        "exitOnPass": False,
        "exitOnFail": True,
        "attachedChecks": [
            {
                "type": "assistant_check",
                "mode": "judge",
                "rubric": "stays on topic",
                "name": "topic",
            },
            {"type": "assistant_check", "mode": "includes", "includes": "you said", "name": "echo"},
        ],
    }
    result, factory = await run_one(objective_test(**step), judge=judge)
    sent = [r.message for r in factory.targets["bot"].requests]
    assert sent == ["before", "Hello, I need help.", "second", "after"]
    item = result.items[0]
    assert item.status is ItemStatus.FAILED
    final = [ch for ch in item.assertions if ch.severity == "error" and ch.details.get("step") == 1]
    assert [(ch.name, ch.passed, ch.details["turn"]) for ch in final] == [("topic", False, 2)]


async def test_no_proposal_falls_back_to_neutral_prompts_never_repeating_one() -> None:
    judge = ScriptedJudge([0.0], next_messages=["same"] * 7)
    test = make_test(
        maxTurns=20,
        steps=[{"type": "user_objective", "objective": "x", "maxTurns": 20}],
    )
    result, factory = await run_one(test, judge=judge)
    sent = [r.message for r in factory.targets["bot"].requests]
    assert sent[:2] == ["Hello, I need help.", "same"]
    assert sent[2:] == list(NEUTRAL_PROMPTS)
    assert len(set(sent)) == len(sent)
    assert "no new follow-up to send" in "\n".join(result.items[0].artifacts.log)


async def test_without_attached_checks_the_objective_itself_is_judged_on_the_transcript() -> None:
    judge = ScriptedJudge([0.9])
    result, _ = await run_one(
        make_test(steps=[{"type": "user_objective", "objective": "learn"}]), judge=judge
    )
    assert judge.requests[0].rubric == "learn" and judge.requests[0].scope == "transcript"
    assert result.items[0].status is ItemStatus.PASSED


async def test_a_flat_catalog_environment_keeps_its_response_field_path() -> None:
    """The newer engine's environments are flat ``{channel, baseUrl, responseFieldPath}``;
    the path reaches the assistant, where http_chat reads the reply."""
    from lamdis_core.config.loader import CatalogDocuments, plan_from_documents
    from lamdis_core.ports.catalog import CatalogKind
    from lamdis_core.testing.memory import InMemoryCatalog

    catalog = InMemoryCatalog()
    await catalog.upsert(
        CatalogKind.ENVIRONMENTS,
        "org",
        {
            "id": "env",
            "channel": "http_chat",
            "baseUrl": "http://127.0.0.1:9",
            "responseFieldPath": "data.response",
        },
    )
    await catalog.upsert(
        CatalogKind.TESTS,
        "org",
        {"id": "t", "suiteId": "s", "steps": [{"type": "message", "content": "hi"}]},
    )
    suite = await catalog.upsert(CatalogKind.SUITES, "org", {"id": "s", "defaultEnvId": "env"})
    plan = await plan_from_documents(suite, CatalogDocuments(catalog, "org"), env={})
    assistant = plan.entries[0].assistant
    assert assistant.effective_reply_path == "data.response"
