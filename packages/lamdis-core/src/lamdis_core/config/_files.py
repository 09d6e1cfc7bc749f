"""Local mode: files below a config root as a source of the config pipeline."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lamdis_core.config._build import (
    KIND_TYPES,
    KIND_WORDS,
    Kind,
    Report,
    default_test_ids,
    detect_kind,
)
from lamdis_core.config._parse import Parsed, ParseIssue, parse_file
from lamdis_core.config._pipeline import Parts, Pending, Planner, Shaped
from lamdis_core.config._resolve import Resolver, display
from lamdis_core.domain import config as c

_SCHEMA_ONLY = frozenset({"$schema"})
# Files name personas and requests only through imports, never by id.
_ROLES = frozenset(
    {"authRef", "assistantRef", "assistant", "personas import", "requests import", "test file"}
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


class FileTree:
    """The files below one config root: parsed once each, references resolved against the
    referencing file's folder and its ancestors, never outside the root."""

    noun = "file"
    assistant_word = "assistant"
    finds_by_id = False

    def __init__(self, root: Path) -> None:
        self.resolver = Resolver(root)
        self.root = self.resolver.root
        self.parsed: dict[Path, Parsed] = {}
        self._all_test_files: list[Path] | None = None

    # --- read -------------------------------------------------------------------------------

    def parse(self, path: Path) -> Parsed:
        parsed = self.parsed.get(path)
        if parsed is None:
            parsed = self.parsed[path] = parse_file(path)
        return parsed

    async def read(self, loc: Path) -> tuple[Any, Sequence[ParseIssue]]:
        parsed = self.parse(loc)
        return parsed.data, parsed.issues

    def line_of(self, loc: Path, parts: Parts) -> int | None:
        parsed = self.parsed.get(loc)
        return parsed.line_of(parts) if parsed is not None else None

    def in_suites_folder(self, path: Path) -> bool:
        try:
            return "suites" in path.relative_to(self.root).parts[:-1]
        except ValueError:
            return False

    def kind_of(self, path: Path) -> Kind | None:
        return detect_kind(self.parse(path).data, in_suites_folder=self.in_suites_folder(path))

    def default_id(self, loc: Path) -> str:
        try:
            rel = loc.relative_to(self.root)
        except ValueError:
            rel = Path(loc.name)
        return rel.with_suffix("").as_posix()

    # --- parse ------------------------------------------------------------------------------

    def shape(self, loc: Path, kind: Kind, data: Any, report: Report) -> Shaped | None:
        if not isinstance(data, dict):
            report(
                (),
                f"expected {KIND_WORDS[kind]} (an object) at the top level, "
                f"got a {type(data).__name__}",
                False,
            )
            return None
        actual = detect_kind(data, in_suites_folder=self.in_suites_folder(loc))
        if actual is not None and actual != kind and not (kind == "test" and actual == "suite"):
            report((), f"expected {KIND_WORDS[kind]}, but this is {KIND_WORDS[actual]}", False)
            return None
        if kind in ("assistant", "auth") and "id" not in data:
            data = {"id": self.default_id(loc), **data}
        elif kind == "suite" and "id" not in data:
            data = {"id": loc.stem, **data}  # lamdis-runs names JSON suites by file name
        if kind in ("test", "suite"):
            file_id = data.get("id")
            label = file_id if isinstance(file_id, str) and file_id else self.default_id(loc)
            data = default_test_ids(data, label)
        return Shaped(data, KIND_TYPES[kind], _SCHEMA_ONLY)

    # --- resolve ----------------------------------------------------------------------------

    async def resolve(self, ref: str, origin: Path, role: str) -> Path | str:
        if role not in _ROLES:
            return f"{role} {ref!r} not found"
        result = self.resolver.resolve(ref, origin.parent)
        if result.path is None:
            return result.describe_miss(role, ref, self.root)
        return result.path

    async def assistant_folder(
        self, ref: str, origin: Path, parts: Parts, report: Report
    ) -> list[Path]:
        result = self.resolver.resolve(ref, origin.parent, folder=True)
        if result.path is None:
            report(parts, result.describe_miss("assistant folder", ref, self.root), False)
            return []
        found: list[Path] = []
        for shown, real in self.resolver.walk(result.path):
            if real is None:
                report(
                    parts,
                    f"{display(shown)} is a symlink leading outside the config root; refused",
                    False,
                )
            elif self.kind_of(real) == "assistant":
                found.append(real)
        if not found:
            report(parts, f"folder {ref!r} holds no assistant files", True)
        return found

    def excluded(
        self, loc: Path | None, assistant_id: str | None, exclude: Sequence[str], origin: Path
    ) -> bool:
        if assistant_id is None or not exclude:
            return False  # every included file is checked, excluded or not
        for ref in exclude:
            if ref == assistant_id or (loc is not None and ref == self.default_id(loc)):
                return True
            if loc is not None and self.resolver.resolve(ref, origin.parent).path == loc:
                return True
        return False

    def default_assistant(self, raw: Mapping[str, Any]) -> tuple[str, Parts] | None:
        return None

    def all_test_files(self) -> list[Path]:
        """Every test file below the root (for ``includeIds`` that name no included file)."""
        if self._all_test_files is None:
            self._all_test_files = [
                real
                for _, real in self.resolver.walk(self.root)
                if real is not None and self.kind_of(real) == "test"
            ]
        return self._all_test_files

    async def test_by_id(self, wanted: str, skip: Sequence[Path]) -> Path | None:
        for candidate in self.all_test_files():
            if candidate in skip:
                continue
            data = self.parse(candidate).data
            tests = data.get("tests")
            found_ids = [data.get("id")] + [
                t.get("id")
                for t in (tests if isinstance(tests, list) else [])
                if isinstance(t, dict)
            ]
            if wanted in {i for i in found_ids if isinstance(i, str)}:
                return candidate
        return None

    def unknown_test_id(self, wanted: str, searched: Sequence[Path]) -> str:
        listed = ", ".join(display(p) for p in searched) or "no included files"
        return (
            f"no test file or test has id {wanted!r}; searched {listed} and every test file "
            f"under {display(self.root)}"
        )

    async def suite_members(self, suite: c.Suite) -> list[Path]:
        return []

    def no_assistant_hint(self, suite: Path) -> str:
        return (
            f"the suite {display(suite)} lists no assistants and this file "
            "has no assistantRef or env"
        )


def targets(
    planner: Planner, tree: FileTree, paths: Sequence[str | Path]
) -> list[tuple[Path, bool]]:
    """``(real path, named explicitly)`` for every file the paths name."""
    out: list[tuple[Path, bool]] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            planner.problem(path, None, "no such file or folder")
            continue
        real = tree.resolver.real(path)
        if not tree.resolver.inside(real):
            planner.problem(
                path,
                None,
                f"outside the config root {display(tree.root)}; pass a config root that "
                "contains it (--config-root)",
            )
            continue
        if real.is_dir():
            for shown, found in tree.resolver.walk(real):
                if found is None:
                    planner.problem(
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


async def collect(
    planner: Planner, tree: FileTree, paths: Sequence[str | Path], *, validate_all: bool
) -> list[Pending]:
    """Entries for every suite and test file the paths name.

    Test files a suite found in the same walk covers run through that suite only.
    ``validate_all`` also checks assistants, auth, personas and requests files found in
    folders (``lamdis validate``), which a run skips.
    """
    pending: list[Pending] = []
    covered: set[Path] = set()
    tests: list[tuple[Path, bool]] = []
    for path, explicit in targets(planner, tree, paths):
        if not tree.parse(path).ok:
            await planner.load(path, "test")  # reports the parse problem
            continue
        kind = tree.kind_of(path)
        if kind == "suite":
            result = await planner.suite(path)
            if result is not None:
                pending.extend(result[0])
                covered |= result[1]
        elif kind == "test":
            tests.append((path, explicit))
        elif kind is None:
            if explicit:
                planner.problem(
                    path,
                    (),
                    "cannot tell what this file is; expected a test file {tests: [...]} or "
                    "a suite {id, assistants, tests}",
                )
            else:
                planner.problem(
                    path, None, "skipped: not a lamdis test, suite or config file", warning=True
                )
        elif explicit and not validate_all:
            planner.problem(
                path,
                (),
                f"this is {KIND_WORDS[kind]}; lamdis runs test files, suites, or folders of them",
            )
        elif validate_all:
            if kind == "assistant":
                await planner.assistant(path)
            elif kind == "auth":
                await planner.auth_doc(path)
            elif kind == "requests":
                await planner.requests_doc(path)
            else:
                await planner.load(path, kind)
    for path, explicit in tests:
        if path in covered and not explicit:
            continue
        info = await planner.test_file(path)
        if info is None:
            continue
        if info.assistants is None:
            planner.problem(
                path,
                (),
                "cannot tell which assistant these tests run against: add assistantRef "
                "or env, or run the file through a suite that lists assistants",
            )
            continue
        pending.extend(Pending(info, t, a) for t in info.tests for a in info.assistants)
    return pending
