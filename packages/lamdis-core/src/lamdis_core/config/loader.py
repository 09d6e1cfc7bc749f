"""Loading configuration into a :class:`~lamdis_core.domain.plan.RunPlan`.

Local mode reads files (JSON or YAML, the lamdis-runs formats, described in docs/formats.md)::

    plan = load_plan(["configs/suites/legal-tests.json"])
    report = validate_paths(["configs/"])   # checks everything, runs nothing

A path may be a test file, a suite, or a folder (walked for ``*.json``, ``*.yaml``,
``*.yml``; each file's kind is told by its shape). References (``imports``,
``assistantRef``, ``authRef``, suite includes) are resolved against the referencing file's
folder, then each ancestor up to the config root; ``.json``, ``.yaml`` and ``.yml`` are tried
when the reference has no extension. Nothing outside the config root is read.

Hosted mode builds the same plan from catalog documents. Wrap the Catalog port with
:class:`CatalogDocuments` (or pass anything that satisfies :class:`DocumentSource`)::

    source = CatalogDocuments(catalog, org_id)
    suite = await catalog.get(CatalogKind.SUITES, org_id, suite_id)
    plan = await plan_from_documents(suite, source, env_id=body.env_id)

In documents, references are document ids:

- ``envId``, ``assistants.include`` and the seed's ``defaultEnvId`` name ``environments``
  documents (an assistant file's shape, or the seed's flat ``{channel, baseUrl, headers,
  timeoutMs}``); ``includeFolders: ["assistants/dev"]`` takes every environment whose id
  starts with ``assistants/dev/``.
- ``tests.includeFiles``/``includeIds`` name ``tests`` documents (a test file's shape, or
  one test), and an ``includeIds`` entry may also name a test inside one. A suite with no
  ``tests`` runs the ``tests`` documents whose ``suiteId`` is its id (the seed's layout).
- ``imports`` name ``personas``/``requests`` documents (a file's shape, or one persona or
  request); a ``personaId`` or ``requestId`` no import defines is looked up by id.
- ``authRef`` names an auth config the source returns for kind ``"auth"`` (the catalog has
  no such collection: :class:`CatalogDocuments` serves the ``auths`` it was given).

Every function raises :class:`~lamdis_core.domain.errors.ConfigError` carrying *every*
problem found (file, JSON path, line when known, and what was expected). Problems that do not
stop a run (an unset environment variable a file names, an unknown key) are returned as
warnings instead.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from lamdis_core.config._build import Kind
from lamdis_core.config._documents import CatalogTree, DocumentSource
from lamdis_core.config._files import FileTree, collect, default_config_root
from lamdis_core.config._pipeline import AssistantInfo, Planner, run_sync, split
from lamdis_core.config._resolve import Resolver, display
from lamdis_core.domain.base import Record, Value
from lamdis_core.domain.errors import ConfigError, ConfigProblem
from lamdis_core.domain.plan import PlanEntry, RunPlan

if TYPE_CHECKING:  # the ports package pulls in asyncio and every port; a CLI run needs none
    from lamdis_core.domain.config import Suite
    from lamdis_core.ports.catalog import Catalog

__all__ = [
    "AssistantInfo",
    "CatalogDocuments",
    "ConfigDocument",
    "DocumentSource",
    "ValidationReport",
    "default_config_root",
    "load_assistant",
    "load_plan",
    "plan_from_documents",
    "read_config_tree",
    "resolve_reference",
    "validate_paths",
]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ValidationReport(Value):
    """What :func:`validate_paths` checked.

    Attributes:
        files: every file read, as shown to the user.
        warnings: problems that would not stop a run.
    """

    files: list[str] = attrs.Factory(list)
    warnings: list[ConfigProblem] = attrs.Factory(list)


def _file_planner(
    paths: Sequence[str | Path], config_root: str | Path | None, env: Mapping[str, str] | None
) -> tuple[Planner, FileTree]:
    if not paths:
        raise ConfigError(
            [ConfigProblem(None, "no path given; expected a test file, suite or folder")]
        )
    root = Path(config_root) if config_root is not None else default_config_root(Path(paths[0]))
    if not root.is_dir():
        raise ConfigError([ConfigProblem(str(root), "the config root is not a folder")])
    tree = FileTree(root)
    return Planner(tree, os.environ if env is None else env), tree


def _duplicate_keys(entries: Sequence[PlanEntry]) -> list[ConfigProblem]:
    counts = Counter(e.key for e in entries)
    out = []
    for key, count in counts.items():
        if count > 1:
            sources = sorted({e.source for e in entries if e.key == key})
            out.append(
                ConfigProblem(
                    sources[0],
                    f"test {key} appears {count} times (in {', '.join(sources)}); "
                    "results will be hard to tell apart",
                )
            )
    return out


def load_plan(
    paths: Sequence[str | Path],
    *,
    config_root: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    name_filter: str | None = None,
    tags: Sequence[str] = (),
) -> RunPlan:
    """Build the plan for ``lamdis run PATH...``.

    Args:
        paths: test files, suite files or folders of them. In a folder, assistants, auth,
            personas and requests files are skipped, and test files a suite in the same
            folder includes run through that suite only.
        config_root: the folder references may reach; default: the nearest folder at or
            above the first path holding ``assistants/``, ``tests/`` or ``suites/``, else
            that path's folder.
        env: environment for ``${NAME}`` checks (default ``os.environ``).
        name_filter: keep tests whose id or name matches: a glob when it has ``*``, ``?``
            or ``[``, otherwise a substring; case-insensitive.
        tags: keep tests carrying any of these tags.

    Returns:
        The plan: entries (every test x every assistant of its suite, or the test file's
        own assistant), disabled tests in ``skipped``, warnings, the files read and the
        suite id when exactly one suite was named.

    Raises:
        ConfigError: with every problem found; nothing should run.
    """
    planner, tree = _file_planner(paths, config_root, env)
    pending = run_sync(collect(planner, tree, paths, validate_all=False))
    if planner.errors:
        raise ConfigError(planner.errors, warnings=planner.warnings)
    entries, skipped = split(pending, name_filter, tags)
    named = {Path(os.path.realpath(x)) for x in paths}
    suite_ids = {
        s.id
        for (p, kind), s in planner.loaded.items()
        if kind == "suite" and s is not None and p in named
    }
    warnings = [*planner.warnings, *_duplicate_keys(entries)]
    return RunPlan(
        entries=entries,
        warnings=warnings,
        suite_id=next(iter(suite_ids)) if len(suite_ids) == 1 else None,
        files=[display(p) for p in planner.files],
        skipped=skipped,
    )


def load_assistant(
    path: str | Path,
    *,
    config_root: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> AssistantInfo:
    """One assistant file, loaded as ``lamdis run`` loads the assistant a test names: its
    ``authRef`` resolved (against the config root, as for :func:`load_plan`) and its
    ``${NAME}`` references checked against ``env`` (default ``os.environ``).

    Raises:
        ConfigError: the file is missing or is not a valid assistant, with every problem.
    """
    path = Path(os.path.abspath(path))
    if not path.is_file():
        raise ConfigError([ConfigProblem(str(path), "no such assistant file")])
    planner, _ = _file_planner([path], config_root, env)
    info = run_sync(planner.assistant(path))
    if planner.errors or info is None:
        raise ConfigError(planner.errors or [ConfigProblem(str(path), "not an assistant")])
    return info


def validate_paths(
    paths: Sequence[str | Path],
    *,
    config_root: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> ValidationReport:
    """Check every file the paths name, and every file they reference, without running.

    Unlike :func:`load_plan`, assistants, auth, personas and requests files found in folders
    are checked too, and disabled tests are checked like the others.

    Raises:
        ConfigError: with every problem found.
    """
    planner, tree = _file_planner(paths, config_root, env)
    pending = run_sync(collect(planner, tree, paths, validate_all=True))
    if planner.errors:
        raise ConfigError(planner.errors, warnings=planner.warnings)
    entries = [p.entry() for p in pending]
    return ValidationReport(
        files=[display(p) for p in planner.files],
        warnings=[*planner.warnings, *_duplicate_keys(entries)],
    )


@attrs.define(repr=False, eq=False)
class CatalogDocuments(Record):
    """A :class:`DocumentSource` over the Catalog port, for one organization.

    Args:
        catalog: the hosted catalog.
        org_id: the organization; ``None`` reads any organization's documents by id (the
            seed's start request names a suite without its org) and lists nothing.
        auths: auth configs by ref that take precedence over the catalog's ``auth``
            documents (an embedder's in-process configs); the service passes none, so every
            instance on one catalog reads the same auth configs.
    """

    catalog: Catalog
    org_id: str | None
    auths: Mapping[str, Mapping[str, Any]] = attrs.Factory(dict)

    async def get(self, kind: str, doc_id: str) -> Mapping[str, Any] | None:
        from lamdis_core.ports.catalog import CatalogKind

        if kind == "auth" and doc_id in self.auths:
            return self.auths[doc_id]
        return await self.catalog.get(CatalogKind(kind), self.org_id, doc_id)

    async def list(self, kind: str) -> Sequence[Mapping[str, Any]]:
        from lamdis_core.ports.catalog import CatalogKind

        if self.org_id is None:
            return []
        return await self.catalog.list(CatalogKind(kind), self.org_id)


async def plan_from_documents(
    suite: Mapping[str, Any],
    source: DocumentSource,
    *,
    env_id: str | None = None,
    test_ids: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    name_filter: str | None = None,
    tags: Sequence[str] = (),
) -> RunPlan:
    """Build the plan for a hosted run from a suite document and a document source.

    Args:
        suite: the suite document (a suite file's shape; catalog fields such as ``orgId``,
            ``createdAt`` and the seed's ``defaultEnvId`` are accepted).
        source: where referenced documents come from (see :class:`CatalogDocuments`).
        env_id: run against this environment only (the start request's ``envId``);
            otherwise the suite's assistants, else its ``defaultEnvId``, else each test
            document's ``assistantRef``/``env``.
        test_ids: keep only these tests (test ids or test document ids).
        env: environment for ``${NAME}`` checks (default ``os.environ``).
        name_filter: as for :func:`load_plan`.
        tags: as for :func:`load_plan`.

    Raises:
        ConfigError: with every problem found.
    """
    if not isinstance(suite, Mapping):
        raise ConfigError(
            [ConfigProblem(None, f"expected a suite document (an object), got {suite!r:.40}")]
        )
    tree = CatalogTree(source)
    planner = Planner(tree, os.environ if env is None else env)
    loc = tree.add("suites", suite)
    try:
        result = await planner.suite(loc, env_id=env_id, test_ids=test_ids)
    except RecursionError:
        raise ConfigError([ConfigProblem(None, "a document is nested too deeply")]) from None
    if planner.errors:
        raise ConfigError(planner.errors, warnings=planner.warnings)
    pending = result[0] if result is not None else []
    suite_id = planner.loaded[(loc, "suite")].id
    entries, skipped = split(pending, name_filter, tags)
    return RunPlan(
        entries=entries,
        warnings=[*planner.warnings, *_duplicate_keys(entries)],
        suite_id=suite_id,
        files=[],
        skipped=skipped,
    )


async def suite_test_ids(suite: Mapping[str, Any], source: DocumentSource) -> set[str]:
    """The ids a start request's ``tests`` may name for ``suite``: its tests' ids and the ids
    of the test documents holding them (empty when the suite cannot be read).

    For refusing unknown ids up front, as an unknown suite is, instead of queueing a run that
    then selects nothing.
    """
    tree = CatalogTree(source)
    planner = Planner(tree, {})
    loc = tree.add("suites", suite)
    parsed: Suite | None = await planner.load(loc, "suite")
    if parsed is None:
        return set()
    selected, _ = await planner.suite_tests(loc, parsed)
    return {t.id for _, t in selected} | {i.file_id for i, _ in selected if i.file_id}


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ConfigDocument(Value):
    """One configuration file of a tree, as :func:`read_config_tree` found it.

    Attributes:
        path: its real path, inside the root.
        kind: ``test``, ``suite``, ``assistant``, ``auth``, ``personas`` or ``requests``,
            told by its shape as the loader tells it.
        data: its parsed content.
    """

    path: Path
    kind: Kind
    data: Any


def read_config_tree(root: str | Path) -> list[ConfigDocument]:
    """Every configuration file below ``root``, sorted, classified as the loader does.

    For tools that take a whole tree (``lamdis import``); validate it first with
    :func:`validate_paths` — files that do not parse or are no config document are left out
    here, and symlinks leading outside the root are not followed.
    """
    tree = FileTree(Path(root))
    documents: list[ConfigDocument] = []
    for _, real in tree.resolver.walk(tree.root):
        if real is None:
            continue
        parsed = tree.parse(real)
        kind = tree.kind_of(real) if parsed.ok else None
        if kind is not None:
            documents.append(ConfigDocument(path=real, kind=kind, data=parsed.data))
    return documents


def resolve_reference(
    root: str | Path, ref: str, referrer: str | Path, *, folder: bool = False
) -> Path | None:
    """Where the loader finds ``ref`` written in the file ``referrer`` (``None``: nowhere).

    The nearest folder first, then each ancestor up to ``root``; ``.json``, ``.yaml``,
    ``.yml`` tried when ``ref`` has no extension; never outside ``root``.
    """
    return Resolver(Path(root)).resolve(ref, Path(referrer).parent, folder=folder).path
