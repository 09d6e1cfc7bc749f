"""The hosted service's settings (:class:`Settings`), read from the environment.

A module of its own so that the application keys (:mod:`lamdis_http.app`) can name the type
without importing the composition (:mod:`lamdis_http.bootstrap`), which imports them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import attrs
from lamdis_core.config.env_policy import EnvPolicy
from lamdis_core.settings import env_float, env_int, env_optional_float

from lamdis_http._limits import DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_SECONDS

DEFAULT_PORT = 3101
DEFAULT_MONGO_URL = "mongodb://localhost:27017/lamdis"


@attrs.frozen(kw_only=True)
class Settings:
    """The hosted service's settings, read from the environment by :meth:`from_env`.

    Attributes:
        db_provider: ``DB_PROVIDER`` as given (``None``: auto-detect from the URLs).
        mongo_url: ``MONGO_URL``.
        database_url: ``DATABASE_URL`` (PostgreSQL).
        port: ``PORT`` (3101).
        api_token: ``LAMDIS_API_TOKEN``; without it the service listens on loopback only.
        hmac_secret: ``LAMDIS_HMAC_SECRET``; when set every request must be signed.
        config_dir: ``LAMDIS_CONFIG_DIR`` (``./configs``): the root for run-file, JSON mode
            and, with the local store, the suites startable by id.
        max_runs: ``LAMDIS_MAX_RUNS`` (4): runs executing at once on this instance.
        concurrency: ``LAMDIS_CONCURRENCY`` (8): tests executing at once within a run.
        lease_seconds: ``LAMDIS_LEASE_SECONDS`` (30): a claimed run's lease; a crashed
            instance's runs are recovered once it expires.
        drain_seconds: ``LAMDIS_DRAIN_SECONDS`` (20): on shutdown, how long runs in flight
            may finish before they are cancelled and left to recovery (0: at once).
        local_org: ``LAMDIS_ORG_ID`` (``local``): the organization the local store imports
            the config dir into.
        catalog_env: ``LAMDIS_CATALOG_VARS``, ``LAMDIS_CATALOG_VAR_PREFIX`` and
            ``LAMDIS_SECRET_HOSTS``: the variables catalog documents may read and the hosts
            each secret may be sent to (nothing by default).
        read_seconds: ``LAMDIS_READ_TIMEOUT_SECONDS`` (30): the time a client has to send a
            request's headers, and then its body; idle kept-alive connections close after it.
        max_connections: ``LAMDIS_MAX_CONNECTIONS`` (1000): open connections per instance;
            beyond it a new connection is answered 503 and closed.
        max_cost: ``LAMDIS_MAX_COST_PER_RUN`` (none): USD a run's judge calls may cost; a
            run that would exceed it stops as ``partial`` with the reason in ``error``.
        prices: ``LAMDIS_PRICES``: a price table file over the packaged one.
        judge_provider / judge_base_url / openai_* / aws_region: read by the judge adapters
            from ``env``; kept here so startup can log what is in use.
        schedule_seconds: ``LAMDIS_SCHEDULE_SECONDS`` (30): how often this instance looks for
            due scheduled suites (0: never; another instance may still start them).
        env: the whole environment, handed to adapters (they read their own variables).
    """

    db_provider: str | None = None
    mongo_url: str | None = None
    database_url: str | None = None
    port: int = DEFAULT_PORT
    api_token: str | None = attrs.field(default=None, repr=False)
    hmac_secret: str | None = attrs.field(default=None, repr=False)
    config_dir: Path = Path("configs")
    max_runs: int = 4
    concurrency: int = 8
    lease_seconds: float = 30.0
    drain_seconds: float = 20.0
    local_org: str = "local"
    catalog_env: EnvPolicy = attrs.field(factory=EnvPolicy, repr=False)
    read_seconds: float = DEFAULT_READ_SECONDS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_cost: float | None = None
    prices: str | None = None
    judge_provider: str | None = None
    judge_base_url: str | None = None
    openai_base: str | None = None
    openai_model: str | None = None
    aws_region: str | None = None
    schedule_seconds: float = 30.0
    env: Mapping[str, str] = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; raises :class:`ConfigError` naming a malformed variable."""
        env = dict(os.environ if env is None else env)

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        return cls(
            db_provider=(text("DB_PROVIDER") or "").lower() or None,
            mongo_url=text("MONGO_URL"),
            database_url=text("DATABASE_URL"),
            port=env_int(env, "PORT", DEFAULT_PORT, minimum=0),
            api_token=text("LAMDIS_API_TOKEN"),
            hmac_secret=text("LAMDIS_HMAC_SECRET"),
            config_dir=Path(text("LAMDIS_CONFIG_DIR") or "configs"),
            max_runs=env_int(env, "LAMDIS_MAX_RUNS", 4, minimum=1),
            concurrency=env_int(env, "LAMDIS_CONCURRENCY", 8, minimum=1),
            lease_seconds=env_float(env, "LAMDIS_LEASE_SECONDS", 30.0, above=0),
            drain_seconds=env_float(env, "LAMDIS_DRAIN_SECONDS", 20.0, minimum=0),
            local_org=text("LAMDIS_ORG_ID") or "local",
            catalog_env=EnvPolicy.from_env(env),
            read_seconds=env_float(
                env, "LAMDIS_READ_TIMEOUT_SECONDS", DEFAULT_READ_SECONDS, above=0
            ),
            max_connections=env_int(
                env, "LAMDIS_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS, minimum=1
            ),
            max_cost=env_optional_float(env, "LAMDIS_MAX_COST_PER_RUN", above=0),
            prices=text("LAMDIS_PRICES"),
            judge_provider=text("JUDGE_PROVIDER"),
            judge_base_url=text("JUDGE_BASE_URL"),
            openai_base=text("OPENAI_BASE"),
            openai_model=text("OPENAI_MODEL"),
            aws_region=text("AWS_REGION"),
            schedule_seconds=env_float(env, "LAMDIS_SCHEDULE_SECONDS", 30.0, minimum=0),
            env=env,
        )

    def adapter_env(self) -> dict[str, str]:
        """The environment adapters see, with this object's own choices applied."""
        env = dict(self.env)
        if self.db_provider:
            env["DB_PROVIDER"] = self.db_provider
        if self.mongo_url:
            env["MONGO_URL"] = self.mongo_url
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        if self.judge_provider:
            env["JUDGE_PROVIDER"] = self.judge_provider
        return env
