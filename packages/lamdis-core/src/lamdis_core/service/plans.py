"""Plans for the hosted worker, and the import of a config tree into the catalog.

A suite run (``/internal/runs/start``) is planned from catalog documents with
:func:`lamdis_core.config.loader.plan_from_documents`; a file or JSON-mode run is planned from
files under the config root with :func:`lamdis_core.config.loader.load_plan`.

:func:`import_config_tree` turns a lamdis-runs config tree into catalog documents so its
suites can be started by id. File references become document ids: a test file's id is its
``id`` (else its path under the root without extension), an assistant's id is its ``id``
(else its path) and becomes an ``environments`` document, personas and requests files are
documents named by their path (``personas/retail``). Suite includes, ``includeFolders``,
``assistantRef`` and ``imports`` are rewritten to those ids, so a suite's assistants become
its environments. Auth files become ``auth`` documents named by their path (``auth/dev1``,
what ``authRef`` is rewritten to), stored as written: their ``${NAME}`` references are resolved
by whichever server runs the suite, from its own environment and under its exposure rules, so
instances sharing a catalog behave alike whatever their config roots hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from lamdis_core.config.env_policy import EnvPolicy
from lamdis_core.config.interpolation import env_references
from lamdis_core.config.loader import (
    CatalogDocuments,
    load_plan,
    plan_from_documents,
    read_config_tree,
    resolve_reference,
    validate_paths,
)
from lamdis_core.domain.errors import ConfigError, ConfigProblem
from lamdis_core.domain.plan import RunPlan
from lamdis_core.domain.results import Run
from lamdis_core.logs import get_logger
from lamdis_core.ports.catalog import Catalog, CatalogKind
from lamdis_core.service._worker import SuitePlan

logger = get_logger()


class _DocumentsOfNoOrganization(CatalogDocuments):
    """A run of no organization (its suite document has no ``orgId``): documents are read by
    id from any organization, and listed from those of no organization."""

    async def list(self, kind: str) -> Sequence[Mapping[str, Any]]:
        return await self.catalog.list(CatalogKind(kind), None)


def run_documents(catalog: Catalog, org_id: str | None) -> CatalogDocuments:
    """Where a suite run of ``org_id`` reads its catalog documents."""
    if org_id is None:
        return _DocumentsOfNoOrganization(catalog, None)
    return CatalogDocuments(catalog, org_id)


class CatalogPlanBuilder:
    """The worker's :class:`~lamdis_core.service.PlanBuilder` for runs queued by
    :class:`~lamdis_core.service.RunService` (suite runs) and by ``lamdis serve``'s file and
    JSON modes.

    Args:
        catalog: suite runs read their documents here.
        config_dir: file and JSON-mode runs read files here (and nowhere else). Suite runs
            read nothing here: their auth configs are the catalog's ``auth`` documents.
        env: environment for ``${NAME}`` in files.
        catalog_env: what catalog documents may read of ``env`` (default: nothing); suite
            plans carry that view as their ``env``.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        config_dir: Path,
        env: Mapping[str, str],
        catalog_env: EnvPolicy | None = None,
    ) -> None:
        self.catalog = catalog
        self.config_dir = config_dir
        self.env = env
        self.catalog_env = catalog_env or EnvPolicy()

    async def build(self, run: Run) -> list[SuitePlan]:
        kind = run.request.get("kind", "suite")
        if kind in ("file", "json"):
            return await asyncio.to_thread(self._from_files, run)
        suite_id = run.suite_id or ""
        suite = await self.catalog.get(CatalogKind.SUITES, run.org_id, suite_id)
        if suite is None:
            raise ConfigError(
                [ConfigProblem(f"catalog:suites/{suite_id}", "the suite no longer exists")]
            )
        source = run_documents(self.catalog, run.org_id)
        tests = run.request.get("tests") or None
        restricted = self.catalog_env.view(self.env)
        plan = await plan_from_documents(
            suite, source, env_id=run.env_id, test_ids=tests, env=restricted
        )
        return [SuitePlan(suite_id, attrs.evolve(_with_disabled(plan), env=restricted))]

    def _from_files(self, run: Run) -> list[SuitePlan]:
        root = self.config_dir.resolve()
        plans: list[SuitePlan] = []
        for relative in run.request.get("files", []):
            path = (root / relative).resolve()
            if not path.is_relative_to(root):
                # Checked when the run was queued; checked again because the store is shared.
                raise ConfigError([ConfigProblem(relative, "is outside the config root")])
            plan = load_plan([path], config_root=root, env=self.env)
            plans.append(SuitePlan(plan.suite_id or Path(relative).stem, _with_disabled(plan)))
        return plans


def _with_disabled(plan: RunPlan) -> RunPlan:
    # Disabled tests go to the engine too, which records them as skipped without running them:
    # the run then shows every test of the suite (and is ``partial``), as the CLI does.
    return attrs.evolve(plan, entries=[*plan.entries, *plan.skipped], skipped=[])


# --- import ----------------------------------------------------------------------------------


def _stem_id(root: Path, path: Path) -> str:
    relative = path.relative_to(root).as_posix()
    for ext in (".json", ".yaml", ".yml"):
        if relative.lower().endswith(ext):
            return relative[: -len(ext)]
    return relative


class _Tree:
    """The config files of a validated tree, read and classified as the loader does."""

    def __init__(self, root: Path) -> None:
        self.root = root
        documents = read_config_tree(root)
        self.data: dict[Path, Any] = {doc.path: doc.data for doc in documents}
        self.kinds: dict[Path, str] = {doc.path: doc.kind for doc in documents}

    def resolve(self, ref: str, origin: Path, *, folder: bool = False) -> Path | None:
        found = resolve_reference(self.root, ref, origin, folder=folder)
        return found if folder or found in self.data else None

    def doc_id(self, path: Path) -> str:
        data = self.data[path]
        kind = self.kinds[path]
        if kind in ("test", "assistant") and isinstance(data.get("id"), str) and data["id"]:
            return str(data["id"])
        return _stem_id(self.root, path)


def _documents(tree: _Tree) -> dict[CatalogKind, dict[str, dict[str, Any]]]:
    docs: dict[CatalogKind, dict[str, dict[str, Any]]] = {k: {} for k in CatalogKind}
    problems: list[ConfigProblem] = []

    def ref_id(ref: str, origin: Path, want: str, where: str) -> str:
        found = tree.resolve(ref, origin)
        if found is None or tree.kinds.get(found) != want:
            problems.append(
                ConfigProblem(str(origin), f"{where}: cannot resolve {ref!r} to {want} file")
            )
            return ref
        return (
            _stem_id(tree.root, found)
            if want in ("auth", "personas", "requests")
            else tree.doc_id(found)
        )

    def fix_auth(obj: dict[str, Any], origin: Path, where: str) -> None:
        if isinstance(obj.get("authRef"), str):
            obj["authRef"] = ref_id(obj["authRef"], origin, "auth", f"{where}authRef")
        auth = obj.get("auth")
        if isinstance(auth, dict) and isinstance(auth.get("authRef"), str):
            obj["auth"] = {
                **auth,
                "authRef": ref_id(auth["authRef"], origin, "auth", f"{where}auth.authRef"),
            }

    def fix_imports(obj: dict[str, Any], origin: Path) -> None:
        imports = obj.get("imports")
        if isinstance(imports, dict):
            obj["imports"] = {
                key: [ref_id(r, origin, key, f"imports.{key}") for r in imports.get(key) or []]
                for key in ("personas", "requests")
            }

    def put(kind: CatalogKind, doc_id: str, doc: dict[str, Any], origin: Path) -> None:
        if doc_id in docs[kind] and docs[kind][doc_id] != doc:
            problems.append(
                ConfigProblem(str(origin), f"{kind.value} id {doc_id!r} is used by two files")
            )
        docs[kind][doc_id] = doc

    for path, kind in tree.kinds.items():
        data = {k: v for k, v in tree.data[path].items() if k != "$schema"}
        if kind == "assistant":
            doc_id = tree.doc_id(path)
            fix_auth(data, path, "")
            put(CatalogKind.ENVIRONMENTS, doc_id, {**data, "id": doc_id}, path)
        elif kind == "auth":
            put(
                CatalogKind.AUTH,
                _stem_id(tree.root, path),
                {**data, "id": _stem_id(tree.root, path)},
                path,
            )
        elif kind in ("personas", "requests"):
            doc_id = _stem_id(tree.root, path)
            if kind == "requests":
                fix_auth(data, path, "")
                for i, request in enumerate(data.get("requests") or []):
                    if isinstance(request, dict):
                        fix_auth(request, path, f"requests[{i}].")
            target = CatalogKind.PERSONAS if kind == "personas" else CatalogKind.REQUESTS
            put(target, doc_id, {**data, "id": doc_id}, path)
        elif kind == "test":
            doc_id = tree.doc_id(path)
            fix_imports(data, path)
            if isinstance(data.get("assistantRef"), str):
                data["assistantRef"] = ref_id(
                    data["assistantRef"], path, "assistant", "assistantRef"
                )
            put(CatalogKind.TESTS, doc_id, {**data, "id": doc_id}, path)
        elif kind == "suite":
            doc_id = str(data.get("id") or _stem_id(tree.root, path))
            fix_imports(data, path)
            assistants = data.get("assistants")
            if isinstance(assistants, dict):
                include = [
                    ref_id(r, path, "assistant", "assistants.include")
                    for r in assistants.get("include") or []
                ]
                for folder in assistants.get("includeFolders") or []:
                    found = tree.resolve(folder, path, folder=True)
                    if found is None:
                        problems.append(
                            ConfigProblem(
                                str(path), f"assistants.includeFolders: no folder {folder!r}"
                            )
                        )
                        continue
                    include += [
                        tree.doc_id(p)
                        for p, k in tree.kinds.items()
                        if k == "assistant" and p.is_relative_to(found)
                    ]
                exclude = [
                    ref_id(r, path, "assistant", "assistants.exclude")
                    for r in assistants.get("exclude") or []
                ]
                data["assistants"] = {
                    "include": list(dict.fromkeys(include)),
                    "includeFolders": [],
                    "exclude": exclude,
                }
            tests = data.get("tests")
            if isinstance(tests, dict):
                data["tests"] = {
                    **tests,
                    "includeFiles": [
                        ref_id(r, path, "test", "tests.includeFiles")
                        for r in tests.get("includeFiles") or []
                    ],
                }
            put(CatalogKind.SUITES, doc_id, {**data, "id": doc_id}, path)
    if problems:
        raise ConfigError(problems)
    return docs


def _warn_unexposed(tree: _Tree, env: Mapping[str, str]) -> None:
    """Warn about ``${NAME}`` references a catalog run will refuse under ``env``'s policy
    (the server's own settings always; others unless ``LAMDIS_CATALOG_VARS`` & co. expose
    them), so the import says now what a run would fail on later."""
    try:
        policy = EnvPolicy.from_env(env)
    except ConfigError:
        policy = EnvPolicy()
    for path, data in tree.data.items():
        for name in sorted(env_references(data)):
            refusal = policy.refusal(name)
            if refusal is not None:
                logger.warning(
                    "catalog.variable_not_exposed",
                    file=str(path.relative_to(tree.root)),
                    variable=name,
                    reason=refusal,
                )


# Header names of a static auth file that carry credentials; other headers (a tenant id, a
# content type) may well be written in clear.
_CREDENTIAL_HEADER_WORDS = ("authorization", "cookie", "token", "key", "secret", "password")


def literal_secret_fields(auth: Mapping[str, Any]) -> list[str]:
    """The fields of an auth file that hold a credential in clear where a ``${NAME}``
    reference belongs (``headers.Authorization``, ``env.TOKEN``, ``clientSecret``)."""

    def in_clear(value: Any) -> bool:
        return isinstance(value, str) and bool(value.strip()) and not env_references(value)

    fields: list[str] = []
    headers = auth.get("headers")
    if isinstance(headers, Mapping):
        fields += [
            f"headers.{name}"
            for name, value in headers.items()
            if any(word in str(name).lower() for word in _CREDENTIAL_HEADER_WORDS)
            and in_clear(value)
        ]
    values = auth.get("env")
    if isinstance(values, Mapping):
        fields += [f"env.{name}" for name, value in values.items() if in_clear(value)]
    fields += [key for key in ("clientSecret", "client_secret") if in_clear(auth.get(key))]
    return fields


def _warn_literal_secrets(tree: _Tree) -> None:
    """Auth documents are shared by every server on the database: a credential written in
    clear would be stored, and readable, there. Importing still works (a throwaway token in a
    test tree is common); the warning names the file and field, never the value."""
    for path, kind in tree.kinds.items():
        if kind != "auth" or not isinstance(tree.data[path], Mapping):
            continue
        for field in literal_secret_fields(tree.data[path]):
            logger.warning(
                "catalog.literal_secret",
                file=str(path.relative_to(tree.root)),
                field=field,
                hint="the value is stored in the catalog as written; use a ${NAME} reference "
                "and set NAME in each server's environment",
            )


async def import_config_tree(
    catalog: Catalog, root: Path, *, org_id: str, env: Mapping[str, str] | None = None
) -> dict[str, int]:
    """Load every config file under ``root`` into the catalog for ``org_id``; idempotent.

    The tree is validated first (as ``lamdis validate`` does), so nothing is imported from a
    tree with errors.

    Returns:
        How many documents of each kind were written.

    Raises:
        ConfigError: the tree has errors, or two files claim one id.
    """
    root = await asyncio.to_thread(root.resolve)
    if not await asyncio.to_thread(root.is_dir):
        raise ConfigError([ConfigProblem(str(root), "is not a folder")])
    await asyncio.to_thread(
        validate_paths, [root], config_root=root, env=env if env is not None else {}
    )
    tree = await asyncio.to_thread(_Tree, root)
    docs = _documents(tree)
    _warn_literal_secrets(tree)
    if env is not None:
        _warn_unexposed(tree, env)
    counts: dict[str, int] = {}
    await catalog.upsert(CatalogKind.ORGANIZATIONS, org_id, {"id": org_id, "name": org_id})
    for kind, by_id in docs.items():
        if kind is CatalogKind.ORGANIZATIONS:
            continue
        for doc in by_id.values():
            await catalog.upsert(kind, org_id, doc)
        counts[kind.value] = len(by_id)
    logger.info("catalog.imported", org_id=org_id, root=str(root), **counts)
    return counts
