"""Local mode: building a run plan from files below a config root."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from lamdis_core.config._build import (
    KIND_WORDS,
    Kind,
    Report,
    auth_provided_names,
    check_test_refs,
    check_tests,
    default_test_ids,
    detect_kind,
    env_refs_in,
    select,
    structure,
    with_file_auth,
)
from lamdis_core.config._parse import Parsed, PathPart, format_path, parse_file
from lamdis_core.config._resolve import Resolver, display
from lamdis_core.config._schema import Checker
from lamdis_core.domain import config as c
from lamdis_core.domain.convert import default_converter
from lamdis_core.domain.errors import ConfigProblem
from lamdis_core.domain.plan import PlanEntry

Parts = tuple[PathPart, ...]
_RUNNABLE = ("suite", "test")


@attrs.define
class AssistantInfo:
    """An assistant with the auth configs it names, and where it came from."""

    assistant: c.Assistant
    auths: dict[str, c.AuthConfig]
    path: Path | None  # None for a test file's inline ``env``
    key: str  # identity for de-duplication


@attrs.define
class TestsInfo:
    """Tests from one file with everything their imports define."""

    path: Path
    tests: list[c.TestCase]
    file_id: str | None
    prefix: Parts
    personas: dict[str, c.Persona] = attrs.Factory(dict)
    requests: dict[str, c.RequestDef] = attrs.Factory(dict)
    auths: dict[str, c.AuthConfig] = attrs.Factory(dict)
    assistants: list[AssistantInfo] | None = None  # the file's own assistantRef/env


@attrs.define
class Pending:
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


def default_config_root(first: Path) -> Path:
    """The nearest folder at or above ``first`` holding ``assistants/``, ``tests/`` or
    ``suites/``; else ``first``'s own folder."""
    path = Path(os.path.abspath(first))
    start = path if path.is_dir() else path.parent
    for folder in (start, *start.parents):
        if any((folder / name).is_dir() for name in ("assistants", "tests", "suites")):
            return folder
    return start


class FileSession:
    """One load: parses each file once and collects every problem it meets."""

    def __init__(self, root: Path, env: Mapping[str, str]) -> None:
        self.resolver = Resolver(root)
        self.root = self.resolver.root
        self.env = env
        self.parsed: dict[Path, Parsed] = {}
        self.loaded: dict[tuple[Path, str], Any] = {}
        self.files: list[Path] = []
        self.errors: list[ConfigProblem] = []
        self.warnings: list[ConfigProblem] = []
        self._assistants: dict[Path, AssistantInfo | None] = {}
        self._tests: dict[Path, TestsInfo | None] = {}
        self._auths: dict[Path, c.AuthConfig | None] = {}
        self._env_seen: set[tuple[Path, str]] = set()
        self._all_test_files: list[Path] | None = None

    # --- problems ---------------------------------------------------------------------------

    def problem(
        self,
        path: Path | None,
        parts: Parts | None,
        message: str,
        *,
        warning: bool = False,
        line: int | None = None,
        variable: str | None = None,
    ) -> None:
        parsed = self.parsed.get(path) if path is not None else None
        if line is None and parsed is not None and parts is not None:
            line = parsed.line_of(parts)
        problem = ConfigProblem(
            file=display(path) if path is not None else None,
            message=message,
            json_path=format_path(parts) if parts is not None else None,
            line=line,
            variable=variable,
        )
        target = self.warnings if warning else self.errors
        if problem not in target:
            target.append(problem)

    def reporter(self, path: Path, prefix: Parts = ()) -> Report:
        def report(parts: Parts, message: str, warning: bool) -> None:
            self.problem(path, (*prefix, *parts), message, warning=warning)

        return report

    # --- files ------------------------------------------------------------------------------

    def read(self, path: Path) -> Parsed:
        parsed = self.parsed.get(path)
        if parsed is None:
            parsed = self.parsed[path] = parse_file(path)
        return parsed

    def in_suites_folder(self, path: Path) -> bool:
        try:
            return "suites" in path.relative_to(self.root).parts[:-1]
        except ValueError:
            return False

    def kind_of(self, path: Path) -> Kind | None:
        parsed = self.read(path)
        return detect_kind(parsed.data, in_suites_folder=self.in_suites_folder(path))

    def default_id(self, path: Path) -> str:
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            rel = Path(path.name)
        return rel.with_suffix("").as_posix()

    def load(self, path: Path, kind: Kind) -> Any:
        """The file as a config object of ``kind``; ``None`` (problems recorded) when bad."""
        key = (path, kind)
        if key in self.loaded:
            return self.loaded[key]
        self.loaded[key] = None
        if path not in self.files:
            self.files.append(path)
        parsed = self.read(path)
        for issue in parsed.issues:
            self.problem(
                path,
                tuple(issue.path) if issue.path else None,
                issue.message,
                warning=issue.warning,
                line=issue.line,
            )
        if not parsed.ok:
            return None
        data = parsed.data
        if not isinstance(data, dict):
            self.problem(
                path,
                (),
                f"expected {KIND_WORDS[kind]} (an object) at the top level, "
                f"got a {type(data).__name__}",
            )
            return None
        actual = detect_kind(data, in_suites_folder=self.in_suites_folder(path))
        if actual is not None and actual != kind and not (kind == "test" and actual == "suite"):
            self.problem(path, (), f"expected {KIND_WORDS[kind]}, but this is {KIND_WORDS[actual]}")
            return None
        if kind in ("assistant", "auth") and "id" not in data:
            data = {"id": self.default_id(path), **data}
        elif kind == "suite" and "id" not in data:
            data = {"id": path.stem, **data}  # lamdis-runs names JSON suites by file name
        if kind in ("test", "suite"):
            file_id = data.get("id")
            label = file_id if isinstance(file_id, str) and file_id else self.default_id(path)
            data = default_test_ids(data, label)
        obj = structure(data, kind, self.reporter(path))
        if obj is not None:
            tests = obj.tests if isinstance(obj, c.TestFile | c.Suite) else None
            if isinstance(tests, list):
                check_tests(tests, self.reporter(path), ("tests",), raw=data.get("tests"))
            elif isinstance(obj, c.RequestsFile | c.PersonasFile):
                self._unique_ids(path, obj)
        self.loaded[key] = obj
        return obj

    def _unique_ids(self, path: Path, obj: c.RequestsFile | c.PersonasFile) -> None:
        field = "requests" if isinstance(obj, c.RequestsFile) else "personas"
        seen: set[str] = set()
        for i, item in enumerate(getattr(obj, field)):
            if item.id in seen:
                self.problem(path, (field, i, "id"), f"duplicate id {item.id!r} in this file")
            seen.add(item.id)

    def resolve(
        self, ref: str, origin: Path, parts: Parts, what: str, *, folder: bool = False
    ) -> Path | None:
        """Resolve ``ref`` written in ``origin`` at ``parts``; a miss is reported there."""
        result = self.resolver.resolve(ref, origin.parent, folder=folder)
        if result.path is None:
            self.problem(origin, parts, result.describe_miss(what, ref, self.root))
        return result.path

    # --- environment references -------------------------------------------------------------

    def env_check(self, path: Path, data: Any, prefix: Parts, provided: frozenset[str]) -> None:
        for name, parts in env_refs_in(data, prefix):
            if name in provided or name in self.env or (path, name) in self._env_seen:
                continue
            self._env_seen.add((path, name))
            self.problem(
                path,
                parts,
                f"environment variable {name} is not set; a run that uses this file needs it",
                warning=True,
                variable=name,
            )

    def raw(self, path: Path) -> dict[str, Any]:
        data = self.read(path).data
        return data if isinstance(data, dict) else {}

    # --- referenced objects -----------------------------------------------------------------

    def auth_file(self, path: Path) -> c.AuthConfig | None:
        if path in self._auths:
            return self._auths[path]
        auth: c.AuthConfig | None = self.load(path, "auth")
        self._auths[path] = auth
        if auth is not None:
            raw = {k: v for k, v in self.raw(path).items() if k not in ("id", "$schema")}
            self.env_check(path, raw, (), auth_provided_names(auth))
        return auth

    def auth(self, ref: str, origin: Path, parts: Parts) -> tuple[Path, c.AuthConfig] | None:
        found = self.resolve(ref, origin, parts, "authRef")
        if found is None:
            return None
        auth = self.auth_file(found)
        return (found, auth) if auth is not None else None

    def assistant(self, path: Path) -> AssistantInfo | None:
        if path in self._assistants:
            return self._assistants[path]
        self._assistants[path] = None
        assistant: c.Assistant | None = self.load(path, "assistant")
        if assistant is None:
            return None
        auths: dict[str, c.AuthConfig] = {}
        provided: frozenset[str] = frozenset()
        ref = assistant.effective_auth_ref
        if ref:
            parts: Parts = ("auth", "authRef") if assistant.auth else ("authRef",)
            found = self.auth(ref, path, parts)
            if found is None:
                return None
            auths[ref] = found[1]
            provided = auth_provided_names(found[1])
        raw_env = self.raw(path).get("env")
        self.env_check(path, raw_env, ("env",), provided)
        for key in ("request", "session", "websocket"):
            self.env_check(path, self.raw(path).get(key), (key,), provided)
        if assistant.env.channel == "http_chat" and not assistant.env.base_url:
            self.problem(
                path,
                ("env", "baseUrl"),
                "an http_chat assistant needs env.baseUrl (the URL its chat endpoint lives under)",
            )
            return None
        info = AssistantInfo(assistant, auths, path, key=str(path))
        self._assistants[path] = info
        return info

    def imports(self, info: TestsInfo, imports: c.Imports, prefix: Parts) -> bool:
        """Load ``imports`` into ``info``; ``False`` when any of them failed."""
        ok = True
        persona_sources: list[str] = []
        request_sources: list[str] = []
        for i, ref in enumerate(imports.personas):
            found = self.resolve(ref, info.path, (*prefix, "personas", i), "personas import")
            personas_file: c.PersonasFile | None = (
                self.load(found, "personas") if found is not None else None
            )
            if personas_file is None:
                ok = False
                continue
            persona_sources.append(ref)
            for persona in personas_file.personas:
                info.personas.setdefault(persona.id, persona)
        for i, ref in enumerate(imports.requests):
            found = self.resolve(ref, info.path, (*prefix, "requests", i), "requests import")
            requests_file: c.RequestsFile | None = (
                self.load(found, "requests") if found is not None else None
            )
            if found is None or requests_file is None:
                ok = False
                continue
            request_sources.append(ref)
            ok = self._requests(found, requests_file, info) and ok
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

    def _requests(self, path: Path, requests_file: c.RequestsFile, info: TestsInfo) -> bool:
        ok = True
        raw_requests = self.raw(path).get("requests")
        raw_list = raw_requests if isinstance(raw_requests, list) else []
        for i, request in enumerate(with_file_auth(requests_file)):
            info.requests.setdefault(request.id, request)
            provided: frozenset[str] = frozenset()
            ref = request.effective_auth_ref
            if ref:
                if request.auth:
                    parts: Parts = ("requests", i, "auth", "authRef")
                elif requests_file.requests[i].auth_ref:
                    parts = ("requests", i, "authRef")
                else:
                    parts = ("authRef",)
                found = self.auth(ref, path, parts)
                if found is None:
                    ok = False
                else:
                    info.auths.setdefault(ref, found[1])
                    provided = auth_provided_names(found[1])
            raw = raw_list[i] if i < len(raw_list) and isinstance(raw_list[i], dict) else {}
            http = (
                raw.get("transport", {}).get("http")
                if isinstance(raw.get("transport"), dict)
                else None
            )
            if isinstance(http, dict):
                shown = {k: v for k, v in http.items() if k != "body"}
                self.env_check(path, shown, ("requests", i, "transport", "http"), provided)
        return ok

    def test_file(self, path: Path) -> TestsInfo | None:
        """A test file with its imports and own assistant (``assistants`` stays ``None`` when
        it names none)."""
        if path in self._tests:
            return self._tests[path]
        self._tests[path] = None
        test_file: c.TestFile | None = self.load(path, "test")
        ok = True
        if test_file is None:
            # Still follow the file's references, so their problems are reported in the same
            # round; the problems of the reduced document repeat the ones already recorded.
            test_file = self._reduced(path, ("id", "imports", "assistantRef", "env"), "test")
            if test_file is None:
                return None
            ok = False
        info = TestsInfo(path, list(test_file.tests), test_file.id, ("tests",))
        ok = self.imports(info, test_file.imports, ("imports",)) and ok
        if test_file.assistant_ref:
            if test_file.env is not None:
                self.problem(
                    path,
                    ("env",),
                    "both assistantRef and env are given; assistantRef is used",
                    warning=True,
                )
            found = self.resolve(test_file.assistant_ref, path, ("assistantRef",), "assistantRef")
            assistant = self.assistant(found) if found is not None else None
            if assistant is None:
                ok = False
            else:
                info.assistants = [assistant]
        elif test_file.env is not None:
            label = test_file.id or self.default_id(path)
            inline = c.Assistant(id=f"{label}#env", name=f"{label} (inline env)", env=test_file.env)
            self.env_check(path, self.raw(path).get("env"), ("env",), frozenset())
            if test_file.env.channel == "http_chat" and not test_file.env.base_url:
                self.problem(path, ("env", "baseUrl"), "an http_chat env needs baseUrl")
                ok = False
            info.assistants = [AssistantInfo(inline, {}, None, key=f"{path}#env")]
        if not ok:
            return None
        self._tests[path] = info
        return info

    def _reduced(self, path: Path, keys: tuple[str, ...], kind: Kind) -> Any:
        data = self.read(path).data
        if not isinstance(data, dict):
            return None
        reduced = {k: data[k] for k in keys if k in data}
        if kind == "suite":
            reduced.setdefault("id", path.stem)
            if not isinstance(reduced.get("tests"), dict):
                reduced.pop("tests", None)
        return structure(reduced, kind, self.reporter(path))

    # --- suites -----------------------------------------------------------------------------

    def all_test_files(self) -> list[Path]:
        """Every test file below the root (for ``includeIds`` that name no included file)."""
        if self._all_test_files is None:
            self._all_test_files = [
                real
                for _, real in self.resolver.walk(self.root)
                if real is not None and self.kind_of(real) == "test"
            ]
        return self._all_test_files

    def suite_assistants(self, path: Path, suite: c.Suite) -> list[AssistantInfo] | None:
        """The suite's assistants; ``None`` when it names none (each test file's own apply)."""
        spec = suite.assistants
        if not spec.include and not spec.include_folders:
            if spec.exclude:
                self.problem(
                    path,
                    ("assistants", "exclude"),
                    "exclude without include or includeFolders has no effect",
                    warning=True,
                )
            return None
        found: dict[Path, None] = {}
        for i, ref in enumerate(spec.include):
            hit = self.resolve(ref, path, ("assistants", "include", i), "assistant")
            if hit is not None:
                found[hit] = None
        for i, ref in enumerate(spec.include_folders):
            folder = self.resolve(
                ref, path, ("assistants", "includeFolders", i), "assistant folder", folder=True
            )
            if folder is None:
                continue
            count = 0
            for shown, real in self.resolver.walk(folder):
                if real is None:
                    self.problem(
                        path,
                        ("assistants", "includeFolders", i),
                        f"{display(shown)} is a symlink leading outside the config root; refused",
                    )
                elif self.kind_of(real) == "assistant":
                    found[real] = None
                    count += 1
            if not count:
                self.problem(
                    path,
                    ("assistants", "includeFolders", i),
                    f"folder {ref!r} holds no assistant files",
                    warning=True,
                )
        infos = [info for p in found if (info := self.assistant(p)) is not None]
        excluded_paths: set[Path] = set()
        excluded_names: set[str] = set()
        for ref in spec.exclude:
            excluded_names.add(ref)
            resolution = self.resolver.resolve(ref, path.parent)
            if resolution.path is not None:
                excluded_paths.add(resolution.path)
        kept = [
            info
            for info in infos
            if info.path not in excluded_paths
            and info.assistant.id not in excluded_names
            and (info.path is None or self.default_id(info.path) not in excluded_names)
        ]
        if infos and not kept:
            self.problem(path, ("assistants", "exclude"), "exclude removes every assistant")
        return kept

    def suite(self, path: Path) -> tuple[list[Pending], set[Path]] | None:
        """The suite's entries and the test files it covers."""
        suite: c.Suite | None = self.load(path, "suite")
        if suite is None:
            partial = self._reduced(path, ("id", "assistants", "tests", "imports"), "suite")
            if partial is not None:
                self.suite_assistants(path, partial)
                if isinstance(partial.tests, c.SuiteTests):
                    self._suite_tests(path, partial)
            return None
        assistants = self.suite_assistants(path, suite)
        selected: list[tuple[TestsInfo, c.TestCase]] = []
        covered: set[Path] = set()
        if isinstance(suite.tests, list):
            info = TestsInfo(path, list(suite.tests), suite.id, ("tests",))
            if not self.imports(info, suite.imports, ("imports",)):
                return None
            selected = [(info, t) for t in info.tests]
            if assistants is None:
                assistants = self._suite_env(path, suite)
            if assistants is None:
                self.problem(
                    path,
                    ("assistants",),
                    "a suite with inline tests must list its assistants "
                    "(assistants.include or assistants.includeFolders) or give an env",
                )
                return None
        else:
            selected, covered = self._suite_tests(path, suite)
        if not selected:
            if not self.errors:  # otherwise the failed includes already say why
                self.problem(path, ("tests",), "the suite selects no tests")
            return [], covered
        pending: list[Pending] = []
        for info, test in selected:
            targets = assistants if assistants is not None else info.assistants
            if targets is None:
                self.problem(
                    info.path,
                    (),
                    f"cannot tell which assistant test {test.id!r} runs against: the suite "
                    f"{display(path)} lists no assistants and this file has no assistantRef "
                    "or env",
                )
                continue
            pending.extend(Pending(info, test, a) for a in targets)
        return pending, covered

    def _suite_env(self, path: Path, suite: c.Suite) -> list[AssistantInfo] | None:
        """lamdis-runs' JSON suites (``run-json-suites``) carry their assistant as ``env``."""
        raw_env = self.raw(path).get("env")
        if raw_env is None:
            return None
        checker = Checker()
        normalised = checker.check(raw_env, c.AssistantEnv, ("env",))
        report = self.reporter(path)
        for parts, message in checker.warnings:
            report(parts, message, True)
        for parts, message in checker.errors:
            report(parts, message, False)
        if checker.errors:
            return []
        env = default_converter().structure(normalised, c.AssistantEnv)
        self.env_check(path, raw_env, ("env",), frozenset())
        if env.channel == "http_chat" and not env.base_url:
            self.problem(path, ("env", "baseUrl"), "an http_chat env needs baseUrl")
            return []
        inline = c.Assistant(id=f"{suite.id}#env", name=f"{suite.id} (inline env)", env=env)
        return [AssistantInfo(inline, {}, None, key=f"{path}#env")]

    def _suite_tests(
        self, path: Path, suite: c.Suite
    ) -> tuple[list[tuple[TestsInfo, c.TestCase]], set[Path]]:
        spec = suite.tests
        assert isinstance(spec, c.SuiteTests)
        files: dict[Path, TestsInfo] = {}
        selected: dict[tuple[Path, str], tuple[TestsInfo, c.TestCase]] = {}
        for i, ref in enumerate(spec.include_files):
            hit = self.resolve(ref, path, ("tests", "includeFiles", i), "test file")
            if hit is None:
                continue
            info = self.test_file(hit)
            if info is None:
                continue
            files[hit] = info
            for test in info.tests:
                selected.setdefault((hit, test.id), (info, test))
        for i, wanted in enumerate(spec.include_ids):
            picked = self._by_id(wanted, list(files.values()))
            if picked is None:
                for candidate in self.all_test_files():
                    if candidate in files:
                        continue
                    data = self.read(candidate).data
                    tests = data.get("tests")
                    found_ids = [data.get("id")] + [
                        t.get("id")
                        for t in (tests if isinstance(tests, list) else [])
                        if isinstance(t, dict)
                    ]
                    ids = {i for i in found_ids if isinstance(i, str)}
                    if wanted in ids:
                        info = self.test_file(candidate)
                        if info is not None:
                            files[candidate] = info
                            picked = self._by_id(wanted, [info])
                        break
            if picked is None:
                searched = ", ".join(display(p) for p in files) or "no included files"
                self.problem(
                    path,
                    ("tests", "includeIds", i),
                    f"no test file or test has id {wanted!r}; searched {searched} and every "
                    f"test file under {display(self.root)}",
                )
                continue
            for info, test in picked:
                selected.setdefault((info.path, test.id), (info, test))
        return list(selected.values()), set(files)

    @staticmethod
    def _by_id(
        wanted: str, infos: Sequence[TestsInfo]
    ) -> list[tuple[TestsInfo, c.TestCase]] | None:
        for info in infos:
            if info.file_id == wanted:
                return [(info, t) for t in info.tests]
        for info in infos:
            for test in info.tests:
                if test.id == wanted:
                    return [(info, test)]
        return None

    # --- entry points -----------------------------------------------------------------------

    def targets(self, paths: Sequence[str | Path]) -> list[tuple[Path, bool]]:
        """``(real path, named explicitly)`` for every file the paths name."""
        out: list[tuple[Path, bool]] = []
        for given in paths:
            path = Path(given)
            if not path.exists():
                self.problem(path, None, "no such file or folder")
                continue
            real = self.resolver.real(path)
            if not self.resolver.inside(real):
                self.problem(
                    path,
                    None,
                    f"outside the config root {display(self.root)}; pass a config root that "
                    "contains it (--config-root)",
                )
                continue
            if real.is_dir():
                for shown, found in self.resolver.walk(real):
                    if found is None:
                        self.problem(
                            shown, None, "a symlink leading outside the config root; refused"
                        )
                    else:
                        out.append((found, False))
            else:
                out.append((real, True))
        unique: dict[Path, bool] = {}
        for path, explicit in out:
            unique[path] = unique.get(path, False) or explicit
        return list(unique.items())

    def collect(self, paths: Sequence[str | Path], *, validate_all: bool) -> list[Pending]:
        """Entries for every suite and test file the paths name.

        Test files a suite found in the same walk covers run through that suite only.
        ``validate_all`` also checks assistants, auth, personas and requests files found in
        folders (``lamdis validate``), which a run skips.
        """
        targets = self.targets(paths)
        pending: list[Pending] = []
        covered: set[Path] = set()
        tests: list[tuple[Path, bool]] = []
        for path, explicit in targets:
            parsed = self.read(path)
            if not parsed.ok:
                self.load(path, "test")  # reports the parse problem
                continue
            kind = self.kind_of(path)
            if kind == "suite":
                result = self.suite(path)
                if result is not None:
                    pending.extend(result[0])
                    covered |= result[1]
            elif kind == "test":
                tests.append((path, explicit))
            elif kind is None:
                if explicit:
                    self.problem(
                        path,
                        (),
                        "cannot tell what this file is; expected a test file {tests: [...]} or "
                        "a suite {id, assistants, tests}",
                    )
                else:
                    self.problem(
                        path, None, "skipped: not a lamdis test, suite or config file", warning=True
                    )
            elif explicit and not validate_all:
                self.problem(
                    path,
                    (),
                    f"this is {KIND_WORDS[kind]}; lamdis runs test files, suites, or folders "
                    "of them",
                )
            elif validate_all:
                if kind == "assistant":
                    self.assistant(path)
                elif kind == "auth":
                    self.auth_file(path)
                elif kind == "requests":
                    requests_file = self.load(path, "requests")
                    if requests_file is not None:
                        scratch = TestsInfo(path, [], None, ())
                        self._requests(path, requests_file, scratch)
                else:
                    self.load(path, kind)
        for path, explicit in tests:
            if path in covered and not explicit:
                continue
            info = self.test_file(path)
            if info is None:
                continue
            if info.assistants is None:
                self.problem(
                    path,
                    (),
                    "cannot tell which assistant these tests run against: add assistantRef "
                    "or env, or run the file through a suite that lists assistants",
                )
                continue
            pending.extend(Pending(info, t, a) for t in info.tests for a in info.assistants)
        return pending


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
