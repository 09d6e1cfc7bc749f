"""The hosted API refuses newer-format documents a run could not load, naming the field:
an unknown operator, a generator with wrong arguments, minTurns above maxTurns. A valid one
is stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.http.conftest import ORG, Service


def _test_doc(**test: Any) -> dict[str, Any]:
    return {"id": "newer", "tests": [{"id": "t", **test}]}


@pytest.mark.parametrize(
    ("doc", "field", "said"),
    [
        (
            _test_doc(
                steps=[
                    {"type": "message", "content": "hi"},
                    {
                        "type": "assistant_check",
                        "mode": "variable_check",
                        "variablePath": "var.x",
                        "operator": "equals",
                    },
                ]
            ),
            "tests[0].steps[1].operator",
            "'not_exists'",
        ),
        (
            _test_doc(
                variables=[{"key": "id", "value": "${randInt(9,2)}"}],
                steps=[{"type": "message", "content": "hi"}],
            ),
            "tests[0].variables[0].value",
            "randInt(a,b) needs a <= b, got 9 > 2",
        ),
        (
            _test_doc(
                steps=[{"type": "user_objective", "objective": "o", "minTurns": 5, "maxTurns": 2}]
            ),
            "tests[0].steps[0].minTurns",
            "minTurns (5) is larger than maxTurns (2)",
        ),
    ],
)
async def test_bad_newer_format_documents_are_a_400_naming_the_field(
    service: Service, doc: dict[str, Any], field: str, said: str
) -> None:
    resp = await service.client.post(f"/orgs/{ORG}/tests", json=doc)
    assert resp.status == 400, await resp.text()
    problem = await resp.json()
    matching = [e for e in problem["errors"] if e["field"] == field]
    assert matching and said in matching[0]["message"], problem


async def test_a_valid_newer_format_document_is_stored(service: Service) -> None:
    doc = _test_doc(
        variables=[{"key": "id", "value": "cust-${randInt(6)}"}],
        steps=[
            {"type": "user_objective", "objective": "open an account", "maxTurns": 3},
            {
                "type": "assistant_check",
                "mode": "variable_check",
                "variablePath": "var.id",
                "operator": "regex",
                "rightValue": "^cust-",
                "severity": "warning",
            },
        ],
    )
    resp = await service.client.post(f"/orgs/{ORG}/tests", json=doc)
    assert resp.status in (200, 201), await resp.text()
