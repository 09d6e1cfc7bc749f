"""lamdis-runs' file runners: ``POST /internal/run-file`` and ``POST /internal/run-json-suites``.

Both read files from the config root (``LAMDIS_CONFIG_DIR``) only: a path that resolves
outside it — absolute, ``..``, or through a symlink — is refused with 403. The run goes
through the same queue, worker pool and store as ``/internal/runs/start``, so it has a run id
and history. As in lamdis-runs the response waits for the result (``"wait": false`` answers
``{runId, status: "queued"}`` at once instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from lamdis_core.domain.results import Run, RunStatus, Trigger

from lamdis_http import _problems as p
from lamdis_http._problems import ProblemError
from lamdis_http.app import SERVICE_KEY, SETTINGS_KEY, json_response
from lamdis_http.routes.runs import TRIGGERS

routes = web.RouteTableDef()

SYNC_TIMEOUT_S = 15 * 60
"""How long a waiting run-file / JSON-mode request holds the connection before answering 202."""

_SUFFIXES = (".json", ".yaml", ".yml")


def config_root(request: web.Request) -> Path:
    return request.app[SETTINGS_KEY].config_dir.resolve()


def inside(root: Path, candidate: Path, *, field: str, shown: str) -> Path:
    """``candidate`` resolved; 403 when it is not under ``root``."""
    try:
        resolved = candidate.resolve()
    except (OSError, ValueError) as exc:
        # A name too long for the file system, a NUL that slipped past the body checks.
        raise ProblemError(
            400, f"{shown[:200]!r} is not a usable path ({exc})", field=field
        ) from None
    if not resolved.is_relative_to(root):
        raise ProblemError(
            403,
            f"{shown!r} is outside the config root; only files under LAMDIS_CONFIG_DIR can be run",
            field=field,
        )
    return resolved


def _common_fields() -> dict[str, p.Check]:
    return {
        "trigger": p.string(choices=TRIGGERS),
        "gitContext": p.free_object(),
        "webhookUrl": p.url(),
        "orgId": p.name(),
        "wait": p.boolean(),
    }


@routes.post("/internal/run-file")
async def run_file(request: web.Request) -> web.Response:
    body = await p.json_object(request, free_form=("gitContext",))
    p.validate(
        body,
        required={"filePath": p.path()},
        optional={"cwd": p.path(), **_common_fields()},
        nullable=("cwd", "gitContext", "webhookUrl", "orgId", "trigger", "wait"),
    )
    root = config_root(request)
    base = root
    if body.get("cwd"):
        base = inside(root, root / body["cwd"], field="cwd", shown=body["cwd"])
    path = inside(root, base / body["filePath"], field="filePath", shown=body["filePath"])
    if not _is_file(path):
        raise ProblemError(
            404, f"no file {body['filePath']!r} under the config root", field="filePath"
        )
    relative = str(path.relative_to(root))
    run = _new_run(body, kind="file", files=[relative], suite_id=f"file:{relative}")
    return await _queue_and_maybe_wait(request, run, body)


@routes.post("/internal/run-json-suites")
async def run_json_suites(request: web.Request) -> web.Response:
    body = await p.json_object(request, free_form=("gitContext",))
    p.validate(
        body,
        required={"suites": p.array(p.path(), min_items=1)},
        optional={"mode": p.string(choices=["json"]), **_common_fields()},
        nullable=("gitContext", "webhookUrl", "orgId", "trigger", "wait", "mode"),
    )
    root = config_root(request)
    found: list[str] = []
    for index, suite in enumerate(body["suites"]):
        found.append(str(_find_suite(root, suite, field=f"suites[{index}]").relative_to(root)))
    run = _new_run(body, kind="json", files=found, suite_id="json:" + ",".join(body["suites"]))
    return await _queue_and_maybe_wait(request, run, body)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the file system is no file there
        return False


def _find_suite(root: Path, name: str, *, field: str) -> Path:
    """A suite by id or path: ``suites/<name>[.json|.yaml|.yml]``, then ``<name>[...]``."""
    given = Path(name)
    bases = [root / "suites", root] if not given.is_absolute() else [Path("/")]
    tried: list[str] = []
    for base in bases:
        stem = base / given
        candidates = (
            [stem]
            if stem.suffix in _SUFFIXES
            else [stem.with_name(stem.name + s) for s in _SUFFIXES]
        )
        for candidate in candidates:
            resolved = inside(root, candidate, field=field, shown=name)
            tried.append(str(resolved.relative_to(root)))
            if _is_file(resolved):
                return resolved
    raise ProblemError(
        404, f"no suite {name!r} in the config root (tried: {', '.join(tried)})", field=field
    )


def _new_run(body: dict[str, Any], *, kind: str, files: list[str], suite_id: str) -> Run:
    return Run(
        org_id=body.get("orgId") or "file-org",
        suite_id=suite_id,
        trigger=Trigger(body.get("trigger") or Trigger.CI),
        git_context=body.get("gitContext") or {},
        status=RunStatus.QUEUED,
        webhook_url=body.get("webhookUrl"),
        request={"kind": kind, "files": files},
    )


async def _queue_and_maybe_wait(
    request: web.Request, run: Run, body: dict[str, Any]
) -> web.Response:
    service = request.app[SERVICE_KEY]
    created = await service.queue(run)
    assert created.id is not None
    worker = service.worker
    if body.get("wait") is False or worker is None:
        return json_response({"runId": created.id, "status": "queued"}, status=202)
    final = await service.wait(created.id, timeout=SYNC_TIMEOUT_S)
    if not final.status.is_final:
        return json_response({"runId": created.id, "status": str(final.status)}, status=202)
    summary = worker.summaries.get(created.id)
    result: dict[str, Any] = {
        "runId": created.id,
        "status": str(final.status),
        "passRate": final.totals.pass_rate,
        "totals": {
            "passed": final.totals.passed,
            "failed": final.totals.failed,
            "skipped": final.totals.skipped,
            "errors": final.totals.errors,
        },
        "judge": {"avgScore": final.judge.avg_score},
    }
    if final.error:
        result["error"] = final.error
    if run.request["kind"] == "json":
        result["mode"] = "json"
        result["suites"] = summary["suites"] if summary else []
    else:
        full = await service.get(created.id)
        result["file"] = run.request["files"][0]
        result["items"] = [
            {
                "testId": item.test_id,
                "testName": item.test_name,
                "assistant": item.assistant,
                "status": str(item.status),
                "assertions": [
                    {
                        "type": c.type,
                        "name": c.name,
                        "pass": c.passed,
                        "severity": c.severity,
                        "details": c.details,
                    }
                    for c in item.assertions
                ],
                **({"error": item.error} if item.error else {}),
            }
            for item in full.items
        ]
    return json_response(result)
