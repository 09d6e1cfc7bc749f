"""Hosted mode: building a run plan from catalog documents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from lamdis_core.config._build import (
    Kind,
    Report,
    auth_provided_names,
    check_test_refs,
    check_tests,
    default_test_ids,
    env_refs_in,
    structure,
    with_file_auth,
)
from lamdis_core.config._files import AssistantInfo, Parts, Pending, TestsInfo
from lamdis_core.config._parse import format_path
from lamdis_core.config._schema import Checker
from lamdis_core.config.env_policy import RestrictedEnv
from lamdis_core.domain import config as c
from lamdis_core.domain.convert import default_converter
from lamdis_core.domain.errors import ConfigProblem

# Bookkeeping the catalog (and the seed's collections) adds to documents.
CATALOG_KEYS = frozenset({"$schema", "_id", "orgId", "createdAt", "updatedAt", "suiteId"})
# Accepted silently on top of a document's own fields: bookkeeping plus the seed's suite
# and persona fields lamdis has no use for.
HOSTED_KEYS = CATALOG_KEYS | frozenset(
    {
        "name",
        "tags",
        "defaultEnvId",
        "defaultConnectionKey",
        "thresholds",
        "labels",
        "createdBy",
        "yaml",
        "text",
        "description",
    }
)
_FLAT_ENV_KEYS = (
    "channel",
    "baseUrl",
    "path",
    "headers",
    "timeoutMs",
    "model",
    "systemPrompt",
    "temperature",
    "responseFieldPath",  # the newer lamdis engine's flat environments carry it
)
_FILE_KEYS = ("imports", "assistantRef", "env")


class DocumentSource(Protocol):
    """Where :func:`~lamdis_core.config.loader.plan_from_documents` reads documents.

    ``kind`` is a :class:`~lamdis_core.ports.catalog.CatalogKind` value (``"suites"``,
    ``"tests"``, ``"environments"``, ``"personas"``, ``"requests"``) or ``"auth"`` for the
    auth configs that ``authRef`` names.
    """

    async def get(self, kind: str, doc_id: str) -> Mapping[str, Any] | None:
        """The document with this id, or ``None``."""
        ...

    async def list(self, kind: str) -> Sequence[Mapping[str, Any]]:
        """Every document of this kind (used for ``includeFolders``, ``includeIds`` that
        name a test inside a document, and suites whose tests carry ``suiteId``)."""
        ...


def _label(kind: str, doc_id: str) -> Path:
    return Path(f"catalog:{kind}/{doc_id}")


def _doc_id(doc: Mapping[str, Any]) -> str:
    value = doc.get("id", doc.get("_id"))
    return str(value) if value is not None else "?"


class DocumentSession:
    """One hosted plan: fetches each document once and collects every problem."""

    def __init__(self, source: DocumentSource, env: Mapping[str, str]) -> None:
        self.source = source
        self.env = env
        self.errors: list[ConfigProblem] = []
        self.warnings: list[ConfigProblem] = []
        self._docs: dict[tuple[str, str], Mapping[str, Any] | None] = {}
        self._lists: dict[str, Sequence[Mapping[str, Any]]] = {}
        self._assistants: dict[str, AssistantInfo | None] = {}
        self._auths: dict[str, c.AuthConfig | None] = {}

    def problem(
        self, where: Path, parts: Parts | None, message: str, *, warning: bool = False
    ) -> None:
        problem = ConfigProblem(
            str(where), message, format_path(parts) if parts is not None else None
        )
        target = self.warnings if warning else self.errors
        if problem not in target:
            target.append(problem)

    def reporter(self, where: Path, prefix: Parts = ()) -> Report:
        def report(parts: Parts, message: str, warning: bool) -> None:
            self.problem(where, (*prefix, *parts), message, warning=warning)

        return report

    async def get(self, kind: str, doc_id: str) -> Mapping[str, Any] | None:
        key = (kind, doc_id)
        if key not in self._docs:
            self._docs[key] = await self.source.get(kind, doc_id)
        return self._docs[key]

    async def all_of(self, kind: str) -> Sequence[Mapping[str, Any]]:
        if kind not in self._lists:
            self._lists[kind] = await self.source.list(kind)
        return self._lists[kind]

    def build(self, doc: Mapping[str, Any], kind: Kind, where: Path) -> Any:
        data = dict(doc)
        if "id" not in data and "_id" in data:
            data["id"] = str(data["_id"])
        return structure(data, kind, self.reporter(where), tolerated_top=HOSTED_KEYS)

    def env_check(self, where: Path, data: Any, prefix: Parts, provided: frozenset[str]) -> None:
        for name, parts in env_refs_in(data, prefix):
            if name in provided:
                continue
            refusal = self.env.refusal(name) if isinstance(self.env, RestrictedEnv) else None
            if refusal is not None:
                # Refused, not merely unset: the run must not start (a warning would let it
                # reach the target with the reference unresolved).
                self.problem(where, parts, refusal)
            elif name not in self.env:
                self.problem(
                    where,
                    parts,
                    f"environment variable {name} is not set; a run that uses this document "
                    "needs it",
                    warning=True,
                )

    # --- referenced documents ---------------------------------------------------------------

    async def auth(self, ref: str, origin: Path, parts: Parts) -> c.AuthConfig | None:
        if ref not in self._auths:
            self._auths[ref] = None
            doc = await self.get("auth", ref)
            if doc is None:
                self.problem(
                    origin, parts, f"authRef {ref!r} not found in the catalog's auth configs"
                )
                return None
            where = _label("auth", ref)
            data = {"id": ref, **doc}
            auth: c.AuthConfig | None = self.build(data, "auth", where)
            if auth is not None:
                raw = {k: v for k, v in data.items() if k not in CATALOG_KEYS and k != "id"}
                self.env_check(where, raw, (), auth_provided_names(auth))
            self._auths[ref] = auth
        return self._auths[ref]

    async def assistant(
        self, env_id: str, origin: Path, parts: Parts | None
    ) -> AssistantInfo | None:
        if env_id in self._assistants:
            return self._assistants[env_id]
        self._assistants[env_id] = None
        doc = await self.get("environments", env_id)
        if doc is None:
            self.problem(origin, parts, f"environment {env_id!r} not found")
            return None
        where = _label("environments", env_id)
        data = {"id": env_id, **doc}
        if not isinstance(data.get("env"), dict):
            # The seed stores environments flat: {channel, baseUrl, headers, timeoutMs}.
            flat = {k: data.pop(k) for k in _FLAT_ENV_KEYS if k in data}
            data["env"] = flat
        assistant: c.Assistant | None = self.build(data, "assistant", where)
        if assistant is None:
            return None
        auths: dict[str, c.AuthConfig] = {}
        provided: frozenset[str] = frozenset()
        ref = assistant.effective_auth_ref
        if ref:
            auth = await self.auth(
                ref, where, ("auth", "authRef") if assistant.auth else ("authRef",)
            )
            if auth is None:
                return None
            auths[ref] = auth
            provided = auth_provided_names(auth)
        self.env_check(where, data.get("env"), ("env",), provided)
        if assistant.env.channel == "http_chat" and not assistant.env.base_url:
            self.problem(where, ("env", "baseUrl"), "an http_chat environment needs baseUrl")
            return None
        info = AssistantInfo(assistant, auths, None, key=f"environments/{env_id}")
        self._assistants[env_id] = info
        return info

    async def _personas(self, ref: str) -> list[c.Persona] | None:
        doc = await self.get("personas", ref)
        if doc is None:
            return None
        where = _label("personas", ref)
        if isinstance(doc.get("personas"), list):
            personas_file: c.PersonasFile | None = self.build(doc, "personas", where)
            return list(personas_file.personas) if personas_file else []
        data = {"id": ref, **doc}
        if "description" not in data and isinstance(data.get("text") or data.get("yaml"), str):
            data["description"] = data.get("text") or data.get("yaml")
        persona: c.Persona | None = self._one(data, c.Persona, where)
        return [persona] if persona is not None else []

    def _one(self, data: Mapping[str, Any], cls: type[Any], where: Path) -> Any:
        checker = Checker(tolerated_top=HOSTED_KEYS - {"description", "name"})
        normalised = checker.object(dict(data), cls)
        report = self.reporter(where)
        for parts, message in checker.warnings:
            report(parts, message, True)
        for parts, message in checker.errors:
            report(parts, message, False)
        if checker.errors:
            return None
        return default_converter().structure(normalised, cls)

    async def _requests(self, ref: str, info: TestsInfo) -> bool | None:
        doc = await self.get("requests", ref)
        if doc is None:
            return None
        where = _label("requests", ref)
        if isinstance(doc.get("requests"), list):
            requests_file: c.RequestsFile | None = self.build(doc, "requests", where)
            if requests_file is None:
                return False
            requests = with_file_auth(requests_file)
            raws = [r if isinstance(r, dict) else {} for r in doc["requests"]]
            prefix: Parts = ("requests",)
        else:
            one = self._one({"id": ref, **doc}, c.RequestDef, where)
            if one is None:
                return False
            requests, raws, prefix = [one], [dict(doc)], ()
        ok = True
        for i, request in enumerate(requests):
            info.requests.setdefault(request.id, request)
            provided: frozenset[str] = frozenset()
            auth_ref = request.effective_auth_ref
            if auth_ref:
                auth = await self.auth(auth_ref, where, (*prefix, i) if prefix else ())
                if auth is None:
                    ok = False
                else:
                    info.auths.setdefault(auth_ref, auth)
                    provided = auth_provided_names(auth)
            transport = raws[i].get("transport") if i < len(raws) else None
            http = transport.get("http") if isinstance(transport, dict) else None
            if isinstance(http, dict):
                shown = {k: v for k, v in http.items() if k != "body"}
                base: Parts = (*prefix, i) if prefix else ()
                self.env_check(where, shown, (*base, "transport", "http"), provided)
        return ok

    async def imports(self, info: TestsInfo, imports: c.Imports, prefix: Parts) -> bool:
        """Load imports (document ids), then look up any persona/request id still missing
        directly by id, as the seed does."""
        ok = True
        persona_sources: list[str] = []
        request_sources: list[str] = []
        for i, ref in enumerate(imports.personas):
            personas = await self._personas(ref)
            if personas is None:
                self.problem(info.path, (*prefix, "personas", i), f"personas {ref!r} not found")
                ok = False
                continue
            persona_sources.append(ref)
            for persona in personas:
                info.personas.setdefault(persona.id, persona)
        for i, ref in enumerate(imports.requests):
            result = await self._requests(ref, info)
            if result is None:
                self.problem(info.path, (*prefix, "requests", i), f"requests {ref!r} not found")
                ok = False
                continue
            request_sources.append(ref)
            ok = result and ok
        for test in info.tests:
            wanted = {test.persona_id} | {m.persona_id for m in test.script.messages}
            wanted |= {
                s.persona_id
                for s in test.steps
                if isinstance(s, c.MessageStep | c.UserObjectiveStep)
            }
            for pid in sorted(p for p in wanted if p and p not in info.personas):
                for persona in await self._personas(pid) or []:
                    info.personas.setdefault(persona.id, persona)
                if pid in info.personas:
                    persona_sources.append(pid)
            for step in test.request_steps:
                if step.request_id not in info.requests:
                    found = await self._requests(step.request_id, info)
                    if found is not None:
                        request_sources.append(step.request_id)
                        ok = found and ok
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

    async def test_doc(self, doc: Mapping[str, Any]) -> TestsInfo | None:
        doc_id = _doc_id(doc)
        where = _label("tests", doc_id)
        data = dict(doc)
        if not isinstance(data.get("tests"), list):
            file_part = {k: data.pop(k) for k in _FILE_KEYS if k in data}
            test = {k: v for k, v in data.items() if k not in CATALOG_KEYS}
            test.setdefault("id", doc_id)
            data = {"id": doc_id, "tests": [test], **file_part}
            if "name" in doc:
                data["name"] = doc["name"]
        data = default_test_ids(data, doc_id)
        test_file: c.TestFile | None = self.build(data, "test", where)
        if test_file is None:
            return None
        check_tests(test_file.tests, self.reporter(where), ("tests",))
        info = TestsInfo(where, list(test_file.tests), test_file.id or doc_id, ("tests",))
        ok = await self.imports(info, test_file.imports, ("imports",))
        if test_file.assistant_ref:
            assistant = await self.assistant(test_file.assistant_ref, where, ("assistantRef",))
            if assistant is None:
                return None
            info.assistants = [assistant]
        elif test_file.env is not None:
            label = test_file.id or doc_id
            inline = c.Assistant(id=f"{label}#env", name=f"{label} (inline env)", env=test_file.env)
            info.assistants = [AssistantInfo(inline, {}, None, key=f"tests/{doc_id}#env")]
        return info if ok else None

    # --- the suite --------------------------------------------------------------------------

    async def suite_assistants(
        self, suite: c.Suite, raw: Mapping[str, Any], where: Path, env_id: str | None
    ) -> list[AssistantInfo] | None:
        if env_id:
            found = await self.assistant(env_id, where, None)
            return [found] if found else []
        spec = suite.assistants
        ids: dict[str, Parts] = {}
        for i, ref in enumerate(spec.include):
            ids.setdefault(ref, ("assistants", "include", i))
        for i, folder in enumerate(spec.include_folders):
            prefix = folder.rstrip("/") + "/"
            matched = [_doc_id(d) for d in await self.all_of("environments")]
            matched = [m for m in matched if m.startswith(prefix)]
            if not matched:
                self.problem(
                    where,
                    ("assistants", "includeFolders", i),
                    f"no environment id starts with {prefix!r}",
                    warning=True,
                )
            for m in matched:
                ids.setdefault(m, ("assistants", "includeFolders", i))
        if not ids:
            default = raw.get("defaultEnvId")
            if isinstance(default, str) and default:
                ids[default] = ("defaultEnvId",)
            else:
                return None
        excluded = set(spec.exclude)
        infos = [
            info
            for env, parts in ids.items()
            if env not in excluded and (info := await self.assistant(env, where, parts)) is not None
        ]
        return infos

    async def suite_tests(
        self, suite: c.Suite, raw: Mapping[str, Any], where: Path
    ) -> list[tuple[TestsInfo, c.TestCase]]:
        if isinstance(suite.tests, list):
            info = TestsInfo(where, list(suite.tests), suite.id, ("tests",))
            check_tests(info.tests, self.reporter(where), ("tests",))
            if not await self.imports(info, suite.imports, ("imports",)):
                return []
            return [(info, t) for t in info.tests]
        spec = suite.tests
        selected: dict[tuple[str, str], tuple[TestsInfo, c.TestCase]] = {}
        infos: dict[str, TestsInfo] = {}

        async def add_doc(doc_id: str, parts: Parts) -> TestsInfo | None:
            if doc_id in infos:
                return infos[doc_id]
            doc = await self.get("tests", doc_id)
            if doc is None:
                return None
            built = await self.test_doc({"id": doc_id, **doc})
            if built is not None:
                infos[doc_id] = built
            return built

        for i, doc_id in enumerate(spec.include_files):
            file_info = await add_doc(doc_id, ("tests", "includeFiles", i))
            if file_info is None:
                if await self.get("tests", doc_id) is None:
                    self.problem(where, ("tests", "includeFiles", i), f"test {doc_id!r} not found")
                continue
            for test in file_info.tests:
                selected.setdefault((doc_id, test.id), (file_info, test))
        for i, wanted in enumerate(spec.include_ids):
            id_info = await add_doc(wanted, ("tests", "includeIds", i))
            if id_info is not None:
                for test in id_info.tests:
                    selected.setdefault((wanted, test.id), (id_info, test))
                continue
            hit = False
            for doc in await self.all_of("tests"):
                tests = doc.get("tests")
                if isinstance(tests, list) and any(
                    isinstance(t, dict) and t.get("id") == wanted for t in tests
                ):
                    doc_info = await add_doc(_doc_id(doc), ("tests", "includeIds", i))
                    if doc_info is not None:
                        for test in doc_info.tests:
                            if test.id == wanted:
                                selected.setdefault((_doc_id(doc), test.id), (doc_info, test))
                    hit = True
                    break
            if not hit:
                self.problem(
                    where,
                    ("tests", "includeIds", i),
                    f"no test document and no test inside one has id {wanted!r}",
                )
        if not spec.include_files and not spec.include_ids:
            # The seed keeps tests as documents carrying the suite's id.
            for doc in await self.all_of("tests"):
                if doc.get("suiteId") == suite.id:
                    own = await add_doc(_doc_id(doc), ())
                    if own is not None:
                        for test in own.tests:
                            selected.setdefault((_doc_id(doc), test.id), (own, test))
        return list(selected.values())

    async def test_ids(self, suite_doc: Mapping[str, Any]) -> set[str]:
        """The test ids and test document ids ``suite_doc`` selects (see :meth:`plan`)."""
        suite_id = _doc_id(suite_doc)
        where = _label("suites", suite_id)
        data = default_test_ids({"id": suite_id, **suite_doc}, suite_id)
        suite: c.Suite | None = self.build(data, "suite", where)
        if suite is None:
            return set()
        selected = await self.suite_tests(suite, data, where)
        return {t.id for _, t in selected} | {i.file_id for i, _ in selected if i.file_id}

    async def plan(
        self, suite_doc: Mapping[str, Any], env_id: str | None, test_ids: Sequence[str] | None
    ) -> tuple[list[Pending], str | None]:
        suite_id = _doc_id(suite_doc)
        where = _label("suites", suite_id)
        data = default_test_ids({"id": suite_id, **suite_doc}, suite_id)
        suite: c.Suite | None = self.build(data, "suite", where)
        if suite is None:
            return [], suite_id
        assistants = await self.suite_assistants(suite, data, where, env_id)
        selected = await self.suite_tests(suite, data, where)
        if test_ids:
            wanted = set(test_ids)
            selected = [
                (info, t) for info, t in selected if t.id in wanted or info.file_id in wanted
            ]
        if not selected and not self.errors:
            self.problem(where, ("tests",), "the suite selects no tests")
        pending: list[Pending] = []
        for info, test in selected:
            targets = assistants if assistants is not None else info.assistants
            if targets is None:
                self.problem(
                    info.path,
                    (),
                    f"cannot tell which environment test {test.id!r} runs against: give envId, "
                    "the suite's assistants or defaultEnvId, or the test's assistantRef",
                )
                continue
            pending.extend(Pending(info, test, a) for a in targets)
        return pending, suite.id
