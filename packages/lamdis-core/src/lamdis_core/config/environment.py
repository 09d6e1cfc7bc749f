"""Which environment variables a run needs, checked before its first turn.

Loading only warns about an unset ``${VAR}`` (a file may name variables a given run never
uses). Before a run starts, :func:`missing_environment` works out what each test of the plan
will read — its assistant's URL and headers, the assistant's auth, and the URL and headers of
every request its steps call, with their auth — and reports each unset variable once, by its
real name: a pattern auth's ``${BOT_API_KEY}`` that stands for ``${DEV1_BOT_API_KEY}`` is
reported as ``DEV1_BOT_API_KEY``, at the file and line that map it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from lamdis_core.config.interpolation import env_references
from lamdis_core.domain import config as c
from lamdis_core.domain.convert import default_converter
from lamdis_core.domain.errors import ConfigProblem
from lamdis_core.domain.plan import PlanEntry, RunPlan


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _refs(value: object) -> set[str]:
    names: set[str] = set()
    for text in _strings(value):
        names |= env_references(text)
    return names


def _through_auth(names: Iterable[str], auth: c.AuthConfig | None) -> set[str]:
    """Names as the environment knows them: a pattern auth's own names map to their values."""
    provided = auth.env if isinstance(auth, c.PatternAuth) else {}
    real: set[str] = set()
    for name in names:
        real |= _refs(provided[name]) if name in provided else {name}
    return real


def _auth_needs(auth: c.AuthConfig | None) -> set[str]:
    if auth is None:
        return set()
    if isinstance(auth, c.StaticAuth):
        return _refs(auth.headers)
    if isinstance(auth, c.PatternAuth):
        return _through_auth(_refs(auth.pattern.template), auth)
    return _refs([auth.client_id, auth.client_secret, auth.token_url, auth.scopes])


def needed_variables(entry: PlanEntry) -> dict[str, str]:
    """The environment variables ``entry`` reads, each with what reads it first."""
    needs: dict[str, str] = {}

    def add(names: Iterable[str], user: str) -> None:
        for name in sorted(names):
            needs.setdefault(name, user)

    assistant = entry.assistant
    ref = assistant.effective_auth_ref
    auth = entry.auths.get(ref) if ref else None
    env_fields = default_converter().unstructure(assistant.env)
    add(_through_auth(_refs(env_fields), auth), f"assistant {assistant.id}")
    add(_auth_needs(auth), f"auth {ref} of assistant {assistant.id}")
    for step in entry.test.request_steps:
        definition = entry.requests.get(step.request_id)
        if definition is None:
            continue
        http = definition.transport.http
        request_ref = definition.effective_auth_ref
        request_auth = entry.auths.get(request_ref) if request_ref else None
        shown = [http.base_url, http.path, http.full_url, http.headers]
        add(_through_auth(_refs(shown), request_auth), f"request {definition.id}")
        add(_auth_needs(request_auth), f"auth {request_ref} of request {definition.id}")
    return needs


def missing_environment(
    plan: RunPlan, env: Mapping[str, str], *, entries: Sequence[PlanEntry] | None = None
) -> list[ConfigProblem]:
    """One problem per environment variable the plan's tests need and ``env`` lacks.

    Each problem names the variable and is placed where the configuration uses it (the file,
    line and JSON path the loader's warning recorded), or, for documents without a file, says
    which assistant, auth or request reads it.
    """
    located: dict[str, list[ConfigProblem]] = {}
    for warning in plan.warnings:
        if warning.variable:
            located.setdefault(warning.variable, []).append(warning)
    users: dict[str, list[str]] = {}
    for entry in plan.entries if entries is None else entries:
        if not entry.test.enabled:
            continue
        for name, user in needed_variables(entry).items():
            if name not in env and user not in users.setdefault(name, []):
                users[name].append(user)
    problems: list[ConfigProblem] = []
    for name, readers in users.items():
        message = (
            f"environment variable {name} is not set, and this run needs it "
            f"({', '.join(readers[:3])}{' and more' if len(readers) > 3 else ''}); "
            f"export {name} before running"
        )
        places = located.get(name) or [ConfigProblem(file=None, message="")]
        for place in places:
            problems.append(
                ConfigProblem(
                    file=place.file,
                    message=message,
                    json_path=place.json_path,
                    line=place.line,
                    variable=name,
                )
            )
    return sorted(problems, key=lambda p: (p.file or "", p.line or 0, p.json_path or ""))
