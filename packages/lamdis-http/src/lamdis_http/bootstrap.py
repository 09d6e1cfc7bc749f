"""The one composition root of the hosted mode.

:class:`Settings` reads the seed's environment variables; :func:`build_app` turns them into a
running aiohttp application: store and catalog (``DB_PROVIDER`` with auto-detection), judge
(``JUDGE_PROVIDER``), targets and requester, notifier, engine and worker pool. Anything passed
in explicitly (a test's in-memory store, a fake judge) is used instead and is *not* closed by
the app: whoever made it owns it. What the app opens itself it closes, in ``cleanup_ctx``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web
from lamdis_core.domain.errors import LamdisError
from lamdis_core.logs import get_logger
from lamdis_core.ports.catalog import Catalog
from lamdis_core.ports.clock import Clock, SystemClock
from lamdis_core.ports.judge import Judge
from lamdis_core.ports.notifier import Notifier
from lamdis_core.ports.requester import Requester
from lamdis_core.ports.store import RunStore
from lamdis_core.ports.target import TargetFactory

if TYPE_CHECKING:
    from lamdis_core.ports.schedule import ScheduleClaims

from lamdis_http import app as app_module
from lamdis_http._auth import make_auth_middleware
from lamdis_http._limits import body_deadline_middleware
from lamdis_http.app import (
    CATALOG_KEY,
    CATALOG_SERVICE_KEY,
    CLOCK_KEY,
    JUDGE_KEY,
    SERVICE_KEY,
    SETTINGS_KEY,
    STORE_KEY,
    STORE_NAME_KEY,
    WORKER_KEY,
)
from lamdis_http.settings import DEFAULT_MONGO_URL, DEFAULT_PORT, Settings

# Settings live in lamdis_http.settings (so lamdis_http.app can name them without importing
# this module); they stay importable from here.
__all__ = ["DEFAULT_MONGO_URL", "DEFAULT_PORT", "Settings", "StartupError", "build_app"]

logger = get_logger()


class StartupError(LamdisError):
    """The service cannot start: a missing adapter, a bad setting, an unreachable database."""


def build_app(
    settings: Settings,
    *,
    store: RunStore | None = None,
    catalog: Catalog | None = None,
    judge: Judge | None = None,
    targets: Mapping[str, TargetFactory] | None = None,
    requester: Requester | None = None,
    notifier: Notifier | None = None,
    clock: Clock | None = None,
    start_worker: bool = True,
    worker_id: str | None = None,
    poll_seconds: float = 1.0,
) -> web.Application:
    """Compose the hosted service.

    Args:
        settings: what the environment asked for.
        store / catalog: pass both (a test's in-memory pair or an opened database store), or
            neither: then they are opened from ``settings`` at startup.
        judge / targets / requester / notifier / clock: adapters to use instead of the ones
            the settings name.
        start_worker: ``False`` leaves runs queued (tests of the API alone).
        worker_id: the lease owner name of this instance (default host:pid:random).
        poll_seconds: how often an idle worker looks for queued runs.

    Raises:
        ValueError: only one of ``store`` and ``catalog`` was given.
    """
    if (store is None) != (catalog is None):
        raise ValueError("pass both store and catalog, or neither")
    clock = clock or SystemClock()
    app = app_module.new_application(
        middlewares=[
            body_deadline_middleware(settings.read_seconds),
            make_auth_middleware(token=settings.api_token, hmac_secret=settings.hmac_secret),
        ]
    )
    app[SETTINGS_KEY] = settings
    app[CLOCK_KEY] = clock
    from lamdis_http.routes import setup_routes

    setup_routes(app)
    from lamdis_http.ui import history
    from lamdis_http.ui.web import setup_ui

    setup_ui(app, history.routes)

    async def services(app: web.Application) -> AsyncIterator[None]:
        from lamdis_core.engine import Engine
        from lamdis_core.service import (
            CatalogPlanBuilder,
            RunService,
            WorkerPool,
            import_config_tree,
        )
        from lamdis_core.service.catalog import CatalogService

        from lamdis_http import registry
        from lamdis_http._secret_guard import SecretGuard
        from lamdis_http.webhooks import AiohttpNotifier

        env = settings.adapter_env()
        closers: list[Any] = []
        try:
            provider = registry.db_provider(env)
            if store is None:
                opened_store, opened_catalog = await _open_store(registry, env, provider)
                closers.append(opened_store)
                the_store: RunStore = opened_store
                the_catalog: Catalog = opened_catalog
                store_name = provider
            else:
                assert catalog is not None
                the_store, the_catalog = store, catalog
                store_name = type(store).__name__
            the_judge = judge
            if the_judge is None:
                # Verdicts at temperature 0 are cached in memory for the service's life: the
                # same rubric over the same transcript costs one model call (issue 6).
                from lamdis_core.llm import MemoryResponseCache

                loaded = registry.load_judge(env, cache=MemoryResponseCache())
                the_judge = await loaded if inspect.isawaitable(loaded) else loaded
                closers.append(the_judge)
            if getattr(the_judge, "prices", None) is not None:
                from lamdis_core.pricing import PriceTable

                setattr(the_judge, "prices", PriceTable.load(settings.prices))  # noqa: B010
            elif settings.max_cost is not None and not the_judge.offline:
                raise StartupError(
                    f"LAMDIS_MAX_COST_PER_RUN is set but judge {the_judge.name} reports no "
                    "cost, so the budget cannot be enforced"
                )
            lazy_targets = _TargetLoader(env, given=targets)
            closers.append(lazy_targets)
            the_requester = requester
            if the_requester is None:
                from lamdis_http.requests import AiohttpRequester

                the_requester = AiohttpRequester()
                closers.append(the_requester)
            the_notifier = notifier
            if the_notifier is None:
                made = AiohttpNotifier(secret=settings.hmac_secret, clock=clock)
                closers.append(made)
                the_notifier = made
        except (LamdisError, OSError) as exc:
            await _close_all(closers)
            raise StartupError(str(exc)) from exc
        except BaseException:
            # Any other failure (a bug, a cancelled start-up) must still close the sessions
            # and pools already opened, or Python reports them unclosed on the way out.
            await _close_all(closers)
            raise

        app[STORE_KEY] = the_store
        app[CATALOG_KEY] = the_catalog
        app[JUDGE_KEY] = the_judge
        app[STORE_NAME_KEY] = store_name
        logger.info(
            "service.composed",
            store=store_name,
            judge=the_judge.name,
            judge_offline=bool(getattr(the_judge, "offline", False)),
            targets="given" if targets is not None else "loaded per channel on first use",
            config_dir=str(settings.config_dir),
            max_runs=settings.max_runs,
            auth="token" if settings.api_token else "none",
            hmac=bool(settings.hmac_secret),
        )
        if store is None and provider == "local":
            if settings.config_dir.is_dir():
                try:
                    # With the environment, so startup warns about references a catalog
                    # run will refuse (LAMDIS_CATALOG_VARS & co.).
                    count = await import_config_tree(
                        the_catalog, settings.config_dir, org_id=settings.local_org, env=env
                    )
                except LamdisError as exc:
                    await _close_all(closers)
                    raise StartupError(
                        f"cannot load the config dir {settings.config_dir} (LAMDIS_CONFIG_DIR): {exc}"
                    ) from exc
                except BaseException:
                    await _close_all(closers)
                    raise
                logger.info("service.config_imported", config_dir=str(settings.config_dir), **count)
            else:
                logger.warning(
                    "service.no_config_dir",
                    config_dir=str(settings.config_dir),
                    hint="set LAMDIS_CONFIG_DIR to a config tree so its suites can be started by id",
                )
        the_judge_final: Judge = the_judge
        the_requester_final: Requester = the_requester

        guard = SecretGuard(settings.catalog_env, env)

        async def engines(plan: Any) -> Engine:
            channels = {entry.assistant.env.channel for entry in plan.entries}
            factories = await lazy_targets.for_channels(channels)
            if plan.env is None:
                return Engine(
                    targets=factories,
                    judge=the_judge_final,
                    requester=the_requester_final,
                    clock=clock,
                    env=env,
                )
            # A catalog plan: documents read only what the operator exposed, and secrets go
            # only to the hosts they are bound to.
            return Engine(
                targets={ch: guard.target_factory(f) for ch, f in factories.items()},
                judge=the_judge_final,
                requester=guard.requester(the_requester_final),
                clock=clock,
                env=plan.env,
            )

        pool = WorkerPool(
            store=the_store,
            engines=engines,
            plans=CatalogPlanBuilder(
                the_catalog,
                config_dir=settings.config_dir,
                env=env,
                catalog_env=settings.catalog_env,
            ),
            notifier=the_notifier,
            clock=clock,
            judge_name=the_judge.name,
            judge_offline=bool(getattr(the_judge, "offline", False)),
            mode=provider if store is None else "local",
            max_runs=settings.max_runs,
            concurrency=settings.concurrency,
            max_cost=settings.max_cost,
            lease_seconds=settings.lease_seconds,
            poll_seconds=poll_seconds,
            worker_id=worker_id,
        )
        app[WORKER_KEY] = pool
        app[SERVICE_KEY] = RunService(the_store, the_catalog, clock=clock, worker=pool)
        app[CATALOG_SERVICE_KEY] = CatalogService(the_catalog, clock=clock)
        if start_worker:
            try:
                await pool.start()
            except Exception as exc:
                await _close_all(closers)
                raise StartupError(f"cannot recover or claim runs from the store: {exc}") from exc
        scheduler = None
        if start_worker and settings.schedule_seconds > 0:
            if hasattr(the_catalog, "claim_schedule"):
                from lamdis_http._scheduler import Scheduler

                scheduler = Scheduler(
                    claims=cast("ScheduleClaims", the_catalog),
                    store=the_store,
                    clock=clock,
                    wake=pool.wake,
                    interval_seconds=settings.schedule_seconds,
                )
                scheduler.start()
            else:
                logger.warning(
                    "schedule.unsupported",
                    catalog=type(the_catalog).__name__,
                    hint="this catalog cannot claim schedules; scheduled suites will not run",
                )
        try:
            yield
        finally:
            if scheduler is not None:
                await scheduler.close()
            await pool.close(drain_seconds=settings.drain_seconds)
            await _close_all(closers)

    app.cleanup_ctx.append(services)
    return app


class _TargetLoader:
    """Target factories by channel, loaded from entry points the first time a run needs one.

    Loading every installed adapter at startup would import LLM SDKs a deployment may never
    use (seconds of startup); a run needing a channel whose package is missing fails with
    the registry's error naming the package to install.
    """

    def __init__(
        self, env: Mapping[str, str], *, given: Mapping[str, TargetFactory] | None
    ) -> None:
        self._env = env
        self._given = dict(given) if given is not None else None
        self._loaded: dict[str, TargetFactory] = {}
        self._lock = asyncio.Lock()

    async def for_channels(self, channels: set[str]) -> dict[str, TargetFactory]:
        if self._given is not None:
            return self._given
        from lamdis_http import registry

        async with self._lock:
            missing = sorted(channels - set(self._loaded))
            if missing:
                # Importing an SDK can take seconds: keep the event loop serving requests.
                loaded = await asyncio.to_thread(
                    registry.load_target_factories, self._env, channels=missing
                )
                self._loaded.update(loaded)
        return {channel: self._loaded[channel] for channel in channels}

    async def aclose(self) -> None:
        for factory in self._loaded.values():
            await factory.aclose()
        self._loaded.clear()


async def _open_store(registry: Any, env: Mapping[str, str], provider: str) -> tuple[Any, Any]:
    try:
        opened: tuple[Any, Any] = await registry.open_store(env)
    except LamdisError:
        raise
    except Exception as exc:
        where = {
            "mongo": f"MONGO_URL={_redact(env.get('MONGO_URL', DEFAULT_MONGO_URL))}",
            "postgres": f"DATABASE_URL={_redact(env.get('DATABASE_URL', ''))}",
        }.get(provider, provider)
        raise StartupError(
            f"cannot open the {provider} store ({where}): {type(exc).__name__}: {exc}"
        ) from exc
    return opened


def _redact(url: str) -> str:
    """The URL without its password, for error messages and logs."""
    from yarl import URL

    try:
        parsed = URL(url)
    except ValueError:
        return "<unparseable URL>"
    if parsed.password:
        parsed = parsed.with_password("***")
    return str(parsed)


async def _close_all(closers: list[Any]) -> None:
    for obj in reversed(closers):
        try:
            await obj.aclose()
        except Exception:
            logger.exception("service.close_failed", adapter=type(obj).__name__)
    closers.clear()
