"""Finds adapters through entry points, so a team installs only the ones it uses.

Three groups:

- ``lamdis.targets``: ``name = "module:create_target_factory"``, called as ``fn(env)`` and
  returning a :class:`~lamdis_core.ports.target.TargetFactory` for channel ``name``.
- ``lamdis.judges``: ``name = "module:create_judge"``, called as ``fn(env, cache=cache)``
  and returning a :class:`~lamdis_core.ports.judge.Judge`.
- ``lamdis.stores``: ``name = "module:open_store"``, awaited as ``fn(env)`` and returning
  ``(RunStore, Catalog)``.

Asking for an adapter that is not installed raises :class:`AdapterNotInstalledError` naming
the group, the value and the package to install.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from lamdis_core.domain.errors import AdapterNotInstalledError, ConfigError, ConfigProblem
from lamdis_core.logs import configure_if_imported, get_logger

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint, EntryPoints

    from lamdis_core.ports.catalog import Catalog
    from lamdis_core.ports.judge import Judge
    from lamdis_core.ports.store import RunStore
    from lamdis_core.ports.target import TargetFactory

logger = get_logger()

TARGETS_GROUP = "lamdis.targets"
JUDGES_GROUP = "lamdis.judges"
STORES_GROUP = "lamdis.stores"

JUDGE_PROVIDERS = ("openai", "bedrock", "external", "offline")
DB_PROVIDERS = ("local", "mongo", "postgres")

# The distribution that provides each known adapter value. The hint names the adapter's own
# distribution rather than a lamdis-http extra: `pip install 'lamdis-http[openai]'` would also
# re-resolve lamdis-http and lamdis-core, which fails where they came from a wheelhouse.
_PACKAGES: dict[tuple[str, str], str] = {
    (JUDGES_GROUP, "openai"): "lamdis-judge-openai",
    (JUDGES_GROUP, "external"): "lamdis-http",
    (JUDGES_GROUP, "bedrock"): "lamdis-judge-bedrock",
    (JUDGES_GROUP, "offline"): "lamdis-http",
    (STORES_GROUP, "postgres"): "lamdis-store-postgres",
    (STORES_GROUP, "mongo"): "lamdis-store-mongo",
    (STORES_GROUP, "local"): "lamdis-http",
    (TARGETS_GROUP, "http_chat"): "lamdis-http",
    (TARGETS_GROUP, "openai_chat"): "lamdis-judge-openai",
    (TARGETS_GROUP, "bedrock_chat"): "lamdis-judge-bedrock",
}


def install_hint(package: str) -> str:
    """How to install ``package`` at the version of the lamdis already installed.

    Pinned to the installed lamdis-core's version so the adapter matches the core it plugs
    into; the wheelhouse form works before the packages are published (``make dist`` in the
    lamdis repository builds it).
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        requirement = f"{package}=={version('lamdis-core')}"
    except PackageNotFoundError:  # a source tree without metadata
        requirement = package
    return (
        f"install it with: pip install '{requirement}' (from a wheelhouse built by `make dist`: "
        f"pip install --find-links dist '{requirement}')"
    )


@functools.cache
def _all_entry_points() -> EntryPoints:
    # One scan of the installed distributions per process: each scan reads every
    # dist-info folder, and a run asks three times (targets, judge, store). On 3.11 this is a
    # SelectableGroups, whose select() flattens groups exactly as EntryPoints.select() does.
    from importlib.metadata import entry_points

    return cast("EntryPoints", entry_points())


def _select(group: str, name: str | None = None) -> EntryPoints:
    if name is None:
        return _all_entry_points().select(group=group)
    return _all_entry_points().select(group=group, name=name)


def _not_installed(group: str, value: str, *, cause: str | None = None) -> AdapterNotInstalledError:
    package = _PACKAGES.get((group, value))
    installed = sorted(ep.name for ep in _select(group))
    hint = install_hint(package) if package else "install the package that provides it"
    message = (
        f"no {group!r} adapter named {value!r} is installed; {hint}"
        f" (installed: {', '.join(installed) or 'none'})"
    )
    if cause:
        message += f"; loading it failed: {cause}"
    error = AdapterNotInstalledError(message)
    error.group = group  # type: ignore[attr-defined]  # extra context for callers and tests
    error.value = value  # type: ignore[attr-defined]
    error.package = package  # type: ignore[attr-defined]
    return error


def _entry_point(group: str, value: str) -> EntryPoint:
    found = _select(group, value)
    for ep in found:
        return ep
    raise _not_installed(group, value)


# The entry points lamdis-http itself declares (its pyproject.toml; a unit test keeps the two
# equal). Loading these needs no scan of the installed distributions, which with the
# import of importlib.metadata is ~50 ms of a short `lamdis run`'s start-up.
_BUILTIN: dict[tuple[str, str], str] = {
    (TARGETS_GROUP, "http_chat"): "lamdis_http.targets:create_target_factory",
    (TARGETS_GROUP, "sse"): "lamdis_http.targets:create_sse_factory",
    (TARGETS_GROUP, "websocket"): "lamdis_http.targets:create_websocket_factory",
    (STORES_GROUP, "local"): "lamdis_core.testing.memory:open_memory_store",
    (JUDGES_GROUP, "offline"): "lamdis_core.offline_judge:create_judge",
    (JUDGES_GROUP, "external"): "lamdis_http.judges.external:create_judge",
}


def _load(group: str, value: str) -> Callable[..., Any]:
    builtin = _BUILTIN.get((group, value))
    if builtin is not None:
        import importlib

        module, _, attr = builtin.partition(":")
        loaded_builtin: Callable[..., Any] = getattr(importlib.import_module(module), attr)
        return loaded_builtin
    ep = _entry_point(group, value)
    try:
        loaded: Callable[..., Any] = ep.load()
    except ImportError as exc:  # the entry point is declared but its extra is missing
        raise _not_installed(group, value, cause=str(exc)) from exc
    configure_if_imported()
    return loaded


def load_target_factories(
    env: Mapping[str, str], *, channels: Iterable[str] | None = None
) -> dict[str, TargetFactory]:
    """One factory per installed ``lamdis.targets`` entry point, keyed by channel.

    Args:
        env: the environment, passed to each factory.
        channels: only these channels (what a plan uses), so a run against ``http_chat``
            never imports an LLM SDK it does not need. ``None`` loads every installed one;
            then an entry point whose package fails to import is logged and left out.

    Raises:
        AdapterNotInstalledError: a channel named in ``channels`` is not installed.
    """
    factories: dict[str, TargetFactory] = {}
    if channels is not None:
        for channel in sorted(set(channels)):
            factories[channel] = _load(TARGETS_GROUP, channel)(env)
        return factories
    for ep in _select(TARGETS_GROUP):
        try:
            create = ep.load()
        except ImportError as exc:
            logger.warning("target_adapter_unavailable", channel=ep.name, error=str(exc))
            continue
        configure_if_imported()
        factories[ep.name] = create(env)
    return factories


def judge_provider(env: Mapping[str, str]) -> str:
    """``JUDGE_PROVIDER`` when set; else ``external`` with ``JUDGE_BASE_URL``, ``openai`` with
    ``OPENAI_API_KEY``, and ``offline`` with neither.

    Raises:
        ConfigError: ``JUDGE_PROVIDER`` names no known provider.
    """
    explicit = env.get("JUDGE_PROVIDER", "").strip().lower()
    if explicit:
        if explicit not in JUDGE_PROVIDERS:
            raise ConfigError(
                [
                    ConfigProblem(
                        "JUDGE_PROVIDER",
                        f"unknown judge provider {explicit!r}; expected one of: "
                        + ", ".join(JUDGE_PROVIDERS),
                    )
                ]
            )
        return explicit
    if env.get("JUDGE_BASE_URL", "").strip():
        return "external"
    if env.get("OPENAI_API_KEY", "").strip():
        return "openai"
    return "offline"


def load_judge(env: Mapping[str, str], *, cache: object | None = None) -> Judge:
    """The judge :func:`judge_provider` picks, built by its entry point.

    Args:
        env: the environment (provider selection and the adapter's own settings).
        cache: a response cache for LLM judges (``None`` disables caching).

    Raises:
        AdapterNotInstalledError: the provider's package is not installed.
        ConfigError: the provider is unknown or its settings are wrong.
    """
    provider = judge_provider(env)
    create = _load(JUDGES_GROUP, provider)
    judge: Judge = create(env, cache=cache)
    return judge


def db_provider(env: Mapping[str, str]) -> str:
    """``DB_PROVIDER`` when set; else ``mongo`` with ``MONGO_URL``, ``postgres`` with
    ``DATABASE_URL``, and ``local`` (in memory) with neither — the seed's auto-detection.

    Raises:
        ConfigError: ``DB_PROVIDER`` names no known provider.
    """
    explicit = env.get("DB_PROVIDER", "").strip().lower()
    if explicit:
        if explicit not in DB_PROVIDERS:
            raise ConfigError(
                [
                    ConfigProblem(
                        "DB_PROVIDER",
                        f"unknown database provider {explicit!r}; expected one of: "
                        + ", ".join(DB_PROVIDERS),
                    )
                ]
            )
        return explicit
    if env.get("MONGO_URL", "").strip():
        return "mongo"
    if env.get("DATABASE_URL", "").strip():
        return "postgres"
    return "local"


async def open_store(env: Mapping[str, str]) -> tuple[RunStore, Catalog]:
    """Open the run store and catalog :func:`db_provider` picks.

    The caller owns both and closes them (``await store.aclose()``).

    Raises:
        AdapterNotInstalledError: the provider's package is not installed.
        ConfigError: the provider is unknown or its settings are wrong.
    """
    provider = db_provider(env)
    opener = _load(STORES_GROUP, provider)
    opened = opener(env)
    if hasattr(opened, "__await__"):  # cheaper than importing inspect on the CLI's path
        opened = await opened
    store, catalog = opened
    logger.info("store_opened", provider=provider)
    return store, catalog
