"""The one configuration pipeline: read → parse → check → resolve → plan.

Files below a config root and catalog documents are two sources (:class:`Source`) feeding
the same stages. A source reads a document (a file's text parsed, or a catalog document as stored),
shapes it into the common format (the defaults its kind of storage implies), and resolves a
reference to another document; everything else — checking against the schema, following
references, checking environment references, choosing assistants and tests, and building
the plan's entries — is done here, once, for both.

Every stage records its problems and carries on, so one pass reports every problem of a tree
together: a document that fails its checks is still followed where its references can be
read (its ``imports``, ``assistantRef``, ``authRef``, suite includes, and the tests that did
check), so a broken reference is reported beside the type error that would otherwise hide it.

The stages are coroutines because a catalog source awaits its database; a file source never
suspends, and :func:`run_sync` drives the pipeline over it without an event loop.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import attrs

from lamdis_core.config._build import (
    Kind,
    Report,
    auth_provided_names,
    check_test_refs,
    check_tests,
    env_refs_in,
    select,
    structure,
    with_file_auth,
)
from lamdis_core.config._parse import ParseIssue, PathPart, format_path
from lamdis_core.config._resolve import display
from lamdis_core.config._schema import Checker
from lamdis_core.config.env_policy import RestrictedEnv
from lamdis_core.domain import config as c
from lamdis_core.domain.base import Record, Value
from lamdis_core.domain.convert import default_converter
from lamdis_core.domain.errors import ConfigProblem
from lamdis_core.domain.plan import PlanEntry

Parts = tuple[PathPart, ...]
T = TypeVar("T")

# Bookkeeping the catalog (and the seed's collections) adds to documents; never content.
CATALOG_KEYS = frozenset({"$schema", "_id", "orgId", "createdAt", "updatedAt", "suiteId"})
_BOOKKEEPING = CATALOG_KEYS | {"id"}


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """The result of a pipeline coroutine whose source never suspends (files)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]  # StopIteration.value is Any
    coro.close()
    raise RuntimeError("a synchronous config source suspended")


@attrs.define(repr=False, eq=False)
class AssistantInfo(Record):
    """An assistant with the auth configs it names, and where it came from."""

    assistant: c.Assistant
    auths: dict[str, c.AuthConfig]
    path: Path | None  # None for an inline ``env``
    key: str  # identity for de-duplication


@attrs.define(repr=False, eq=False)
class TestsInfo(Record):
    """Tests from one document with everything their imports define."""

    path: Path
    tests: list[c.TestCase]
    file_id: str | None
    prefix: Parts
    personas: dict[str, c.Persona] = attrs.Factory(dict)
    requests: dict[str, c.RequestDef] = attrs.Factory(dict)
    auths: dict[str, c.AuthConfig] = attrs.Factory(dict)
    assistants: list[AssistantInfo] | None = None  # the document's own assistantRef/env


@attrs.define(repr=False, eq=False)
class Pending(Record):
    """One test against one assistant, before filtering."""

    info: TestsInfo
    test: c.TestCase
    assistant: AssistantInfo

    @property
    def key(self) -> tuple[str, str, str]:
        return (str(self.info.path), self.test.id, self.assistant.key)

    def entry(self) -> PlanEntry:
        return PlanEntry(
            test=self.test,
            assistant=self.assistant.assistant,
            personas=dict(self.info.personas),
            requests=dict(self.info.requests),
            auths={**self.info.auths, **self.assistant.auths},
            source=display(self.info.path),
            file_id=self.info.file_id,
        )


@attrs.frozen(repr=False, eq=False)
class Shaped(Value):
    """A document in the common format, ready for checking: ``data`` is checked as ``tp``
    (the kind's type unless the source stores a single item), tolerating ``tolerated``
    top-level keys beside the format's own."""

    data: dict[str, Any]
    tp: type[Any]
    tolerated: frozenset[str]


class Source(Protocol):
    """Where the pipeline's documents come from, and how references name them.

    A location is a :class:`~pathlib.Path`: a file's real path, or ``catalog:<kind>/<id>``
    for a catalog document; problems name it as :func:`display` shows it.
    """

    noun: str
    """What a document is called in messages: ``file`` or ``document``."""
    assistant_word: str
    """What an assistant document is called: ``assistant`` or ``environment``."""
    finds_by_id: bool
    """Whether a ``personaId`` or ``requestId`` no import defines is looked up by id (the
    roles ``persona`` and ``request`` of :meth:`resolve`)."""

    async def read(self, loc: Path) -> tuple[Any, Sequence[ParseIssue]]:
        """Read: the document's plain data (``None`` when it cannot be parsed) and the
        parser's issues."""
        ...

    def line_of(self, loc: Path, parts: Parts) -> int | None:
        """The 1-based line of ``parts`` in the document, when the source knows lines."""
        ...

    def shape(self, loc: Path, kind: Kind, data: Any, report: Report) -> Shaped | None:
        """Parse into the common format (ids the storage implies, the seed's flat shapes);
        ``None`` (reported) when the document is not a ``kind`` at all."""
        ...

    async def resolve(self, ref: str, origin: Path, role: str) -> Path | str:
        """Resolve: where ``ref``, written in ``origin`` as a ``role`` reference
        (``authRef``, ``assistantRef``, ``assistant``, ``personas import``,
        ``requests import``, ``test file``; ``persona`` and ``request`` for an id no import
        defines), leads; on a miss the message saying so."""
        ...

    async def assistant_folder(
        self, ref: str, origin: Path, parts: Parts, report: Report
    ) -> list[Path]:
        """The assistants an ``includeFolders`` entry takes (a miss reported)."""
        ...

    def excluded(
        self, loc: Path | None, assistant_id: str | None, exclude: Sequence[str], origin: Path
    ) -> bool:
        """Whether a suite's ``assistants.exclude`` removes the assistant at ``loc`` (asked
        before loading it, ``assistant_id`` ``None``, and after)."""
        ...

    async def test_by_id(self, wanted: str, skip: Sequence[Path]) -> Path | None:
        """A test document (not in ``skip``) whose id, or one of whose tests' id, is
        ``wanted``."""
        ...

    def unknown_test_id(self, wanted: str, searched: Sequence[Path]) -> str:
        """The message for an ``includeIds`` entry nothing has."""
        ...

    async def suite_members(self, suite: c.Suite) -> list[Path]:
        """Test documents that name the suite as theirs (the seed's ``suiteId``)."""
        ...

    def default_assistant(self, raw: Mapping[str, Any]) -> tuple[str, Parts] | None:
        """The assistant a suite naming none runs against, and where it says so."""
        ...

    def default_id(self, loc: Path) -> str:
        """The id a document without one goes by."""
        ...

    def no_assistant_hint(self, suite: Path) -> str:
        """How to say which assistant a test runs against."""
        ...


class Planner:
    """One load: reads each document once, runs the stages, and collects every problem."""

    def __init__(self, source: Source, env: Mapping[str, str]) -> None:
        self.source = source
        self.env = env
        self.errors: list[ConfigProblem] = []
        self.warnings: list[ConfigProblem] = []
        self.files: list[Path] = []
        self.loaded: dict[tuple[Path, str], Any] = {}
        self.raws: dict[Path, Any] = {}
        self._assistants: dict[Path, AssistantInfo | None] = {}
        self._tests: dict[Path, TestsInfo | None] = {}
        self._auths: dict[Path, c.AuthConfig | None] = {}
        self._env_seen: set[tuple[Path, str]] = set()
        self._shaped: dict[Path, Shaped] = {}

    # --- problems ---------------------------------------------------------------------------

    def problem(
        self,
        loc: Path | None,
        parts: Parts | None,
        message: str,
        *,
        warning: bool = False,
        line: int | None = None,
        variable: str | None = None,
    ) -> None:
        if line is None and loc is not None and parts is not None:
            line = self.source.line_of(loc, parts)
        problem = ConfigProblem(
            file=display(loc) if loc is not None else None,
            message=message,
            json_path=format_path(parts) if parts is not None else None,
            line=line,
            variable=variable,
        )
        target = self.warnings if warning else self.errors
        if problem not in target:
            target.append(problem)

    def reporter(self, loc: Path, prefix: Parts = ()) -> Report:
        def report(parts: Parts, message: str, warning: bool) -> None:
            self.problem(loc, (*prefix, *parts), message, warning=warning)

        return report

    # --- read → parse → check ---------------------------------------------------------------

    async def raw(self, loc: Path) -> dict[str, Any]:
        """The document's data as written, in the common format once parsed (empty when
        it is not an object): where its checks look for ``${NAME}`` and written fields."""
        shaped = self._shaped.get(loc)
        if shaped is not None:
            return shaped.data
        if loc not in self.raws:
            self.raws[loc] = (await self.source.read(loc))[0]
        data = self.raws[loc]
        return data if isinstance(data, dict) else {}

    async def load(self, loc: Path, kind: Kind) -> Any:
        """The document as a config object of ``kind``; ``None`` (problems recorded) when
        bad."""
        key = (loc, kind)
        if key in self.loaded:
            return self.loaded[key]
        self.loaded[key] = None
        if loc not in self.files:
            self.files.append(loc)
        data, issues = await self.source.read(loc)
        self.raws[loc] = data
        for issue in issues:
            self.problem(
                loc,
                tuple(issue.path) if issue.path else None,
                issue.message,
                warning=issue.warning,
                line=issue.line,
            )
        if data is None or any(not i.warning for i in issues):
            return None
        shaped = self.source.shape(loc, kind, data, self.reporter(loc))
        if shaped is None:
            return None
        self._shaped[loc] = shaped
        report = self.reporter(loc)
        obj = structure(shaped.data, kind, report, tolerated_top=shaped.tolerated, tp=shaped.tp)
        if isinstance(obj, c.Persona):
            obj = c.PersonasFile(personas=[obj])
        elif isinstance(obj, c.RequestDef):
            obj = c.RequestsFile(requests=[obj])
        if obj is not None:
            tests = obj.tests if isinstance(obj, c.TestFile | c.Suite) else None
            if isinstance(tests, list):
                check_tests(tests, report, ("tests",), raw=shaped.data.get("tests"))
            elif isinstance(obj, c.RequestsFile | c.PersonasFile):
                self._unique_ids(loc, obj)
        self.loaded[key] = obj
        return obj

    def _unique_ids(self, loc: Path, obj: c.RequestsFile | c.PersonasFile) -> None:
        field = "requests" if isinstance(obj, c.RequestsFile) else "personas"
        seen: set[str] = set()
        for i, item in enumerate(getattr(obj, field)):
            if item.id in seen:
                self.problem(loc, (field, i, "id"), f"duplicate id {item.id!r} in this file")
            seen.add(item.id)

    # --- resolve ----------------------------------------------------------------------------

    async def resolve(self, ref: str, origin: Path, parts: Parts | None, role: str) -> Path | None:
        """Resolve ``ref`` written in ``origin`` at ``parts``; a miss is reported there."""
        found = await self.source.resolve(ref, origin, role)
        if isinstance(found, str):
            self.problem(origin, parts, found)
            return None
        return found

    # --- environment references -------------------------------------------------------------

    def env_check(self, loc: Path, data: Any, prefix: Parts, provided: frozenset[str]) -> None:
        for name, parts in env_refs_in(data, prefix):
            if name in provided:
                continue
            refusal = self.env.refusal(name) if isinstance(self.env, RestrictedEnv) else None
            if refusal is not None:
                # Refused, not merely unset: the run must not start (a warning would let it
                # reach the target with the reference unresolved).
                self.problem(loc, parts, refusal)
            elif name not in self.env and (loc, name) not in self._env_seen:
                self._env_seen.add((loc, name))
                self.problem(
                    loc,
                    parts,
                    f"environment variable {name} is not set; a run that uses this "
                    f"{self.source.noun} needs it",
                    warning=True,
                    variable=name,
                )

    # --- referenced documents ---------------------------------------------------------------

    async def auth_doc(self, loc: Path) -> c.AuthConfig | None:
        if loc in self._auths:
            return self._auths[loc]
        self._auths[loc] = None
        auth: c.AuthConfig | None = await self.load(loc, "auth")
        self._auths[loc] = auth
        if auth is not None:
            raw = {k: v for k, v in (await self.raw(loc)).items() if k not in _BOOKKEEPING}
            self.env_check(loc, raw, (), auth_provided_names(auth))
        return auth

    async def auth(self, ref: str, origin: Path, parts: Parts) -> c.AuthConfig | None:
        found = await self.resolve(ref, origin, parts, "authRef")
        return await self.auth_doc(found) if found is not None else None

    async def _follow_written_auth_refs(self, loc: Path, raw: Mapping[str, Any]) -> None:
        """Check the auth configs a document that failed its checks names, in this same
        pass."""
        for where, written in _raw_auth_refs(raw):
            await self.auth(written, loc, where)

    async def assistant(self, loc: Path) -> AssistantInfo | None:
        if loc in self._assistants:
            return self._assistants[loc]
        self._assistants[loc] = None
        assistant: c.Assistant | None = await self.load(loc, "assistant")
        raw = await self.raw(loc)
        if assistant is None:
            await self._follow_written_auth_refs(loc, raw)
            return None
        auths: dict[str, c.AuthConfig] = {}
        provided: frozenset[str] = frozenset()
        ref = assistant.effective_auth_ref
        if ref:
            parts: Parts = ("auth", "authRef") if assistant.auth else ("authRef",)
            auth = await self.auth(ref, loc, parts)
            if auth is None:
                return None
            auths[ref] = auth
            provided = auth_provided_names(auth)
        for key in ("env", "request", "session", "websocket"):
            self.env_check(loc, raw.get(key), (key,), provided)
        if assistant.env.channel == "http_chat" and not assistant.env.base_url:
            self.problem(
                loc,
                ("env", "baseUrl"),
                f"an http_chat {self.source.assistant_word} needs env.baseUrl (the URL its chat "
                "endpoint lives under)",
            )
            return None
        info = AssistantInfo(assistant, auths, loc, key=str(loc))
        self._assistants[loc] = info
        return info

    async def imports(self, info: TestsInfo, imports: c.Imports, prefix: Parts) -> bool:
        """Load ``imports`` into ``info``; ``False`` when any of them failed.

        A ``personaId`` or ``requestId`` no import defines is looked up by id where the
        source names documents by id (the seed's catalog)."""
        ok = True
        persona_sources: list[str] = []
        request_sources: list[str] = []
        for i, ref in enumerate(imports.personas):
            found = await self.resolve(ref, info.path, (*prefix, "personas", i), "personas import")
            if found is None or not await self._personas(found, info):
                ok = False
                continue
            persona_sources.append(ref)
        for i, ref in enumerate(imports.requests):
            found = await self.resolve(ref, info.path, (*prefix, "requests", i), "requests import")
            result = await self._requests(found, info) if found is not None else None
            if result is None:
                ok = False
                continue
            request_sources.append(ref)
            ok = result and ok
        for test in info.tests if self.source.finds_by_id else ():
            wanted = {test.persona_id} | {m.persona_id for m in test.script.messages}
            wanted |= {
                s.persona_id
                for s in test.steps
                if isinstance(s, c.MessageStep | c.UserObjectiveStep)
            }
            for pid in sorted(p for p in wanted if p and p not in info.personas):
                by_id = await self.source.resolve(pid, info.path, "persona")
                if isinstance(by_id, Path):
                    await self._personas(by_id, info)
                    if pid in info.personas:
                        persona_sources.append(pid)
            for step in test.request_steps:
                if step.request_id in info.requests:
                    continue
                by_id = await self.source.resolve(step.request_id, info.path, "request")
                if isinstance(by_id, Path):
                    result = await self._requests(by_id, info)
                    if result is not None:
                        request_sources.append(step.request_id)
                        ok = result and ok
        check_test_refs(
            info.tests,
            info.personas,
            info.requests,
            self.reporter(info.path),
            info.prefix,
            persona_sources=persona_sources,
            request_sources=request_sources,
        )
        return ok

    async def _personas(self, loc: Path, info: TestsInfo) -> bool:
        personas_file: c.PersonasFile | None = await self.load(loc, "personas")
        if personas_file is None:
            return False
        for persona in personas_file.personas:
            info.personas.setdefault(persona.id, persona)
        return True

    async def _requests(self, loc: Path, info: TestsInfo) -> bool | None:
        """Add a requests document's requests to ``info``: ``None`` when it did not load,
        ``False`` when an auth config it names did not."""
        requests_file: c.RequestsFile | None = await self.load(loc, "requests")
        raw = await self.raw(loc)
        if requests_file is None:
            await self._follow_written_auth_refs(loc, raw)
            return None
        listed = isinstance(raw.get("requests"), list)
        raws = raw["requests"] if listed else [raw]
        ok = True
        for i, request in enumerate(with_file_auth(requests_file)):
            info.requests.setdefault(request.id, request)
            base: Parts = ("requests", i) if listed else ()
            provided: frozenset[str] = frozenset()
            ref = request.effective_auth_ref
            if ref:
                if request.auth:
                    parts: Parts = (*base, "auth", "authRef")
                elif requests_file.requests[i].auth_ref:
                    parts = (*base, "authRef")
                else:
                    parts = ("authRef",)
                auth = await self.auth(ref, loc, parts)
                if auth is None:
                    ok = False
                else:
                    info.auths.setdefault(ref, auth)
                    provided = auth_provided_names(auth)
            item = raws[i] if i < len(raws) and isinstance(raws[i], dict) else {}
            transport = item.get("transport")
            http = transport.get("http") if isinstance(transport, dict) else None
            if isinstance(http, dict):
                shown = {k: v for k, v in http.items() if k != "body"}
                self.env_check(loc, shown, (*base, "transport", "http"), provided)
        return ok

    async def requests_doc(self, loc: Path) -> None:
        """Check a requests document on its own (``lamdis validate`` of a folder)."""
        await self._requests(loc, TestsInfo(loc, [], None, ()))

    def inline_env(
        self, loc: Path, env: c.AssistantEnv, label: str, raw_env: Any
    ) -> AssistantInfo | None:
        """The assistant a test file or suite gives inline as ``env``."""
        self.env_check(loc, raw_env, ("env",), frozenset())
        if env.channel == "http_chat" and not env.base_url:
            self.problem(loc, ("env", "baseUrl"), "an http_chat env needs baseUrl")
            return None
        inline = c.Assistant(id=f"{label}#env", name=f"{label} (inline env)", env=env)
        return AssistantInfo(inline, {}, None, key=f"{loc}#env")

    async def test_file(self, loc: Path) -> TestsInfo | None:
        """A test document with its imports and own assistant (``assistants`` stays ``None``
        when it names none)."""
        if loc in self._tests:
            return self._tests[loc]
        self._tests[loc] = None
        test_file: c.TestFile | None = await self.load(loc, "test")
        ok = True
        if test_file is None:
            test_file = self.salvage(loc, "test")
            if test_file is None:
                return None
            ok = False
        info = TestsInfo(loc, list(test_file.tests), test_file.id, ("tests",))
        ok = await self.imports(info, test_file.imports, ("imports",)) and ok
        if test_file.assistant_ref:
            if test_file.env is not None:
                self.problem(
                    loc,
                    ("env",),
                    "both assistantRef and env are given; assistantRef is used",
                    warning=True,
                )
            found = await self.resolve(
                test_file.assistant_ref, loc, ("assistantRef",), "assistantRef"
            )
            assistant = await self.assistant(found) if found is not None else None
            if assistant is None:
                ok = False
            else:
                info.assistants = [assistant]
        elif test_file.env is not None:
            label = test_file.id or self.source.default_id(loc)
            raw_env = (await self.raw(loc)).get("env")
            inline = self.inline_env(loc, test_file.env, label, raw_env)
            if inline is None:
                ok = False
            else:
                info.assistants = [inline]
        if not ok:
            return None
        self._tests[loc] = info
        return info

    def salvage(self, loc: Path, kind: Kind) -> Any:
        """What can be read of a test file or suite that failed its checks: its references
        and the tests that pass on their own, checked silently (the full check already
        reported every problem)."""
        shaped = self._shaped.get(loc)
        if shaped is None:
            return None
        data = shaped.data
        keys = ("id", "imports", "assistantRef", "env", "assistants", "tests")
        reduced = {k: data[k] for k in keys if k in data}
        if kind == "test":
            reduced.pop("assistants", None)
        tests = reduced.pop("tests", None)
        if kind == "suite":
            reduced.pop("assistantRef", None)
            reduced.pop("env", None)
            if isinstance(tests, dict):
                reduced["tests"] = tests
        partial = structure(reduced, kind, _silent, tolerated_top=shaped.tolerated)
        if partial is None or not isinstance(tests, list):
            return partial
        # A test that fails its checks stays as an empty stand-in, so the others keep their
        # positions (``$.tests[3]``) in what their references report.
        kept = [_checked_test(t, i) for i, t in enumerate(tests)]
        return attrs.evolve(partial, tests=kept)

    # --- suites -----------------------------------------------------------------------------

    async def suite_assistants(
        self, loc: Path, suite: c.Suite, env_id: str | None = None
    ) -> list[AssistantInfo] | None:
        """The suite's assistants (only ``env_id`` when given); ``None`` when it names none
        (each test document's own apply)."""
        if env_id:
            found = await self.resolve(env_id, loc, None, "assistant")
            info = await self.assistant(found) if found is not None else None
            return [info] if info is not None else []
        spec = suite.assistants
        hits: dict[Path, None] = {}
        for i, ref in enumerate(spec.include):
            hit = await self.resolve(ref, loc, ("assistants", "include", i), "assistant")
            if hit is not None:
                hits[hit] = None
        for i, ref in enumerate(spec.include_folders):
            parts: Parts = ("assistants", "includeFolders", i)
            for hit in await self.source.assistant_folder(ref, loc, parts, self.reporter(loc)):
                hits[hit] = None
        if not spec.include and not spec.include_folders:
            default = self.source.default_assistant(await self.raw(loc))
            if default is None:
                if spec.exclude:
                    self.problem(
                        loc,
                        ("assistants", "exclude"),
                        "exclude without include or includeFolders has no effect",
                        warning=True,
                    )
                return None
            hit = await self.resolve(default[0], loc, default[1], "assistant")
            if hit is not None:
                hits[hit] = None
        candidates = [p for p in hits if not self.source.excluded(p, None, spec.exclude, loc)]
        infos = [info for p in candidates if (info := await self.assistant(p)) is not None]
        kept = [
            info
            for info in infos
            if not self.source.excluded(info.path, info.assistant.id, spec.exclude, loc)
        ]
        if infos and not kept:
            self.problem(loc, ("assistants", "exclude"), "exclude removes every assistant")
        return kept

    async def suite(
        self, loc: Path, *, env_id: str | None = None, test_ids: Sequence[str] | None = None
    ) -> tuple[list[Pending], set[Path]] | None:
        """The suite's entries and the test documents it covers; ``None`` when it is broken.

        ``env_id`` runs it against that assistant only; ``test_ids`` keeps only those tests
        (test ids or test document ids)."""
        suite: c.Suite | None = await self.load(loc, "suite")
        if suite is None:
            partial: c.Suite | None = self.salvage(loc, "suite")
            if partial is not None:
                await self.suite_assistants(loc, partial, env_id)
                await self.suite_tests(loc, partial)
            return None
        assistants = await self.suite_assistants(loc, suite, env_id)
        selected, covered = await self.suite_tests(loc, suite)
        if isinstance(suite.tests, list) and selected:
            if assistants is None:
                assistants = await self._suite_env(loc, suite)
            if assistants is None:
                self.problem(
                    loc,
                    ("assistants",),
                    "a suite with inline tests must list its assistants "
                    "(assistants.include or assistants.includeFolders) or give an env",
                )
                return None
        if test_ids:
            wanted = set(test_ids)
            selected = [(i, t) for i, t in selected if t.id in wanted or i.file_id in wanted]
        if not selected:
            if not self.errors:  # otherwise the failed includes already say why
                self.problem(loc, ("tests",), "the suite selects no tests")
            return [], covered
        pending: list[Pending] = []
        for info, test in selected:
            targets = assistants if assistants is not None else info.assistants
            if targets is None:
                self.problem(
                    info.path,
                    (),
                    f"cannot tell which {self.source.assistant_word} test {test.id!r} runs "
                    f"against: {self.source.no_assistant_hint(loc)}",
                )
                continue
            pending.extend(Pending(info, test, a) for a in targets)
        return pending, covered

    async def _suite_env(self, loc: Path, suite: c.Suite) -> list[AssistantInfo] | None:
        """lamdis-runs' JSON suites (``run-json-suites``) carry their assistant as ``env``."""
        raw_env = (await self.raw(loc)).get("env")
        if raw_env is None:
            return None
        checker = Checker()
        normalised = checker.check(raw_env, c.AssistantEnv, ("env",))
        report = self.reporter(loc)
        for parts, message in checker.warnings:
            report(parts, message, True)
        for parts, message in checker.errors:
            report(parts, message, False)
        if checker.errors:
            return []
        env = default_converter().structure(normalised, c.AssistantEnv)
        inline = self.inline_env(loc, env, suite.id, raw_env)
        return [inline] if inline is not None else []

    async def suite_tests(
        self, loc: Path, suite: c.Suite
    ) -> tuple[list[tuple[TestsInfo, c.TestCase]], set[Path]]:
        """The tests the suite selects, and the test documents it includes."""
        if isinstance(suite.tests, list):
            info = TestsInfo(loc, list(suite.tests), suite.id, ("tests",))
            if not await self.imports(info, suite.imports, ("imports",)):
                return [], set()
            return [(info, t) for t in info.tests], set()
        spec = suite.tests
        infos: dict[Path, TestsInfo] = {}
        selected: dict[tuple[Path, str], tuple[TestsInfo, c.TestCase]] = {}
        for i, ref in enumerate(spec.include_files):
            hit = await self.resolve(ref, loc, ("tests", "includeFiles", i), "test file")
            included = await self.test_file(hit) if hit is not None else None
            if hit is None or included is None:
                continue
            infos[hit] = included
            for test in included.tests:
                selected.setdefault((hit, test.id), (included, test))
        for i, wanted in enumerate(spec.include_ids):
            picked = _by_id(wanted, list(infos.values()))
            if picked is None:
                hit = await self.source.test_by_id(wanted, list(infos))
                holder = await self.test_file(hit) if hit is not None else None
                if hit is not None and holder is not None:
                    infos[hit] = holder
                    picked = _by_id(wanted, [holder])
            if picked is None:
                self.problem(
                    loc,
                    ("tests", "includeIds", i),
                    self.source.unknown_test_id(wanted, list(infos)),
                )
                continue
            for info, test in picked:
                selected.setdefault((info.path, test.id), (info, test))
        if not spec.include_files and not spec.include_ids:
            for member in await self.source.suite_members(suite):
                own = await self.test_file(member)
                if own is not None:
                    for test in own.tests:
                        selected.setdefault((member, test.id), (own, test))
        return list(selected.values()), set(infos)


def _by_id(wanted: str, infos: Sequence[TestsInfo]) -> list[tuple[TestsInfo, c.TestCase]] | None:
    for info in infos:
        if info.file_id == wanted:
            return [(info, t) for t in info.tests]
    for info in infos:
        for test in info.tests:
            if test.id == wanted:
                return [(info, test)]
    return None


def _silent(parts: Parts, message: str, warning: bool) -> None:
    """A report that drops what it is told (for checks whose problems are already known)."""


def _checked_test(data: Any, index: int) -> c.TestCase:
    """``data`` as a test when it passes its checks on its own, else an empty stand-in."""
    stand_in = c.TestCase(id=f"#{index + 1}")
    checker = Checker()
    try:
        normalised = checker.object(data, c.TestCase)
    except RecursionError:
        return stand_in
    if checker.errors:
        return stand_in
    try:
        test: c.TestCase = default_converter().structure(normalised, c.TestCase)
    except Exception:  # any failure means "not usable on its own"; it is reported already
        return stand_in
    return test


def _raw_auth_refs(raw: Mapping[str, Any]) -> list[tuple[Parts, str]]:
    """The ``authRef`` strings written in a document that failed its checks."""
    out: list[tuple[Parts, str]] = []
    if isinstance(raw.get("authRef"), str):
        out.append((("authRef",), raw["authRef"]))
    auth = raw.get("auth")
    if isinstance(auth, dict) and isinstance(auth.get("authRef"), str):
        out.append((("auth", "authRef"), auth["authRef"]))
    for i, item in enumerate(
        raw.get("requests") or [] if isinstance(raw.get("requests"), list) else []
    ):
        if isinstance(item, dict):
            out.extend((("requests", i, *p), ref) for p, ref in _raw_auth_refs(item))
    return out


def split(
    pending: Sequence[Pending], name_filter: str | None, tags: Sequence[str]
) -> tuple[list[PlanEntry], list[PlanEntry]]:
    """De-duplicate, filter, and split into (to run, disabled)."""
    seen: set[tuple[str, str, str]] = set()
    run: list[PlanEntry] = []
    skipped: list[PlanEntry] = []
    for item in pending:
        if item.key in seen:
            continue
        seen.add(item.key)
        if not select(item.test, name_filter, tags):
            continue
        (run if item.test.enabled else skipped).append(item.entry())
    return run, skipped
