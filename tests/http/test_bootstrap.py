"""Settings from the environment, the loopback rule, and importing config trees."""

from __future__ import annotations

from pathlib import Path

import pytest
from lamdis_core.config.loader import CatalogDocuments, plan_from_documents
from lamdis_core.domain.errors import ConfigError
from lamdis_core.ports.catalog import CatalogKind
from lamdis_core.service import import_config_tree
from lamdis_core.testing.memory import InMemoryCatalog
from lamdis_http.bootstrap import Settings, StartupError, build_app
from lamdis_http.cli._serve import choose_host, redact_secrets

SEED_CONFIGS = Path(__file__).resolve().parents[3] / "shared" / "lamdis-runs-configs"


def test_settings_read_the_seed_variables_with_their_defaults() -> None:
    defaults = Settings.from_env({})
    assert (defaults.port, defaults.max_runs, defaults.config_dir) == (3101, 4, Path("configs"))
    assert (
        defaults.api_token is None and defaults.hmac_secret is None and defaults.db_provider is None
    )
    custom = Settings.from_env(
        {
            "DB_PROVIDER": "Postgres",
            "DATABASE_URL": "postgresql://u:p@h/db",
            "PORT": "8080",
            "LAMDIS_API_TOKEN": "tok-zz9",
            "LAMDIS_HMAC_SECRET": "hm-qq7",
            "LAMDIS_CONFIG_DIR": "/srv/configs",
            "LAMDIS_MAX_RUNS": "9",
            "LAMDIS_CONCURRENCY": "3",
            "JUDGE_PROVIDER": "openai",
            "JUDGE_BASE_URL": "http://judge",
            "OPENAI_BASE": "http://llm/v1",
            "OPENAI_MODEL": "m",
            "AWS_REGION": "eu-west-1",
        }
    )
    assert custom.db_provider == "postgres" and custom.port == 8080 and custom.max_runs == 9
    assert custom.concurrency == 3 and custom.config_dir == Path("/srv/configs")
    assert (custom.judge_provider, custom.judge_base_url, custom.aws_region) == (
        "openai",
        "http://judge",
        "eu-west-1",
    )
    assert custom.api_token == "tok-zz9" and custom.hmac_secret == "hm-qq7"
    assert "tok-zz9" not in repr(custom) and "hm-qq7" not in repr(custom)


def test_server_limits_default_to_30_s_and_1000_connections_and_are_configurable() -> None:
    defaults = Settings.from_env({})
    assert (defaults.read_seconds, defaults.max_connections) == (30.0, 1000)
    custom = Settings.from_env(
        {"LAMDIS_READ_TIMEOUT_SECONDS": "2.5", "LAMDIS_MAX_CONNECTIONS": "64"}
    )
    assert (custom.read_seconds, custom.max_connections) == (2.5, 64)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "web"),
        ("LAMDIS_MAX_RUNS", "0"),
        ("LAMDIS_CONCURRENCY", "-1"),
        ("LAMDIS_LEASE_SECONDS", "soon"),
        ("LAMDIS_READ_TIMEOUT_SECONDS", "0"),
        ("LAMDIS_MAX_CONNECTIONS", "0"),
    ],
)
def test_malformed_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_without_a_token_only_loopback_is_bound() -> None:
    assert choose_host(None, has_token=True) == ("0.0.0.0", None)
    assert choose_host("10.0.0.5", has_token=True) == ("10.0.0.5", None)
    host, warning = choose_host(None, has_token=False)
    assert host == "127.0.0.1" and warning and "loopback" in warning
    host, warning = choose_host("0.0.0.0", has_token=False)
    assert host == "127.0.0.1" and warning and "refusing" in warning


def test_log_fields_that_hold_secrets_are_masked() -> None:
    event = redact_secrets(
        None, "info", {"event": "x", "api_token": "abc", "Authorization": "Bearer x", "path": "/p"}
    )
    assert event == {"event": "x", "api_token": "***", "Authorization": "***", "path": "/p"}


async def test_an_unknown_db_provider_is_a_startup_error(
    aiohttp_client: object, tmp_path: Path
) -> None:
    app = build_app(Settings(db_provider="cassandra", config_dir=tmp_path, env={}))
    with pytest.raises(StartupError, match="DB_PROVIDER"):
        await aiohttp_client(app)  # type: ignore[operator]


async def test_a_missing_judge_adapter_is_a_startup_error_naming_the_package(
    aiohttp_client: object, tmp_path: Path
) -> None:
    # bedrock is installed in this workspace; an unknown provider exercises the same path.
    app = build_app(
        Settings(db_provider="local", judge_provider="watson", config_dir=tmp_path, env={})
    )
    with pytest.raises(StartupError, match="JUDGE_PROVIDER"):
        await aiohttp_client(app)  # type: ignore[operator]


async def test_local_mode_loads_the_config_dir_so_its_suites_start_by_id(
    aiohttp_client: object, config_dir: Path
) -> None:
    app = build_app(Settings(db_provider="local", config_dir=config_dir, env={}))
    client = await aiohttp_client(app)  # type: ignore[operator]
    health = await (await client.get("/health")).json()
    assert health["store"] == "local" and health["judge"] == "offline"
    resp = await client.post("/internal/runs/start", json={"suiteId": "smoke"})
    assert resp.status == 202
    from tests.http._helpers import wait_status

    run = await wait_status(client, (await resp.json())["runId"])
    assert run["status"] == "passed" and run["orgId"] == "local"


async def test_import_is_idempotent(config_dir: Path) -> None:
    catalog = InMemoryCatalog()
    first = await import_config_tree(catalog, config_dir, org_id="o")
    docs = {kind: await catalog.list(kind, "o") for kind in CatalogKind}
    second = await import_config_tree(catalog, config_dir, org_id="o")
    assert first == second
    again = {kind: await catalog.list(kind, "o") for kind in CatalogKind}
    strip = lambda ds: [{k: v for k, v in d.items() if k != "updatedAt"} for d in ds]  # noqa: E731
    assert {k: strip(v) for k, v in docs.items()} == {k: strip(v) for k, v in again.items()}
    suite = await catalog.get(CatalogKind.SUITES, "o", "matrix")
    assert suite is not None
    # includeFolders became the explicit environments of the suite.
    assert sorted(suite["assistants"]["include"]) == ["demo", "demo-b"]


async def test_import_refuses_a_tree_with_errors(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "bad.json").write_text(
        '{"tests": [{"id": "x", "steps": [{"type": "teleport"}]}]}'
    )
    catalog = InMemoryCatalog()
    with pytest.raises(ConfigError, match="teleport"):
        await import_config_tree(catalog, tmp_path, org_id="o")
    assert await catalog.list(CatalogKind.TESTS, "o") == []


@pytest.mark.skipif(
    not SEED_CONFIGS.is_dir(),
    reason="the shared lamdis-runs example tree is not beside the checkout",
)
async def test_the_lamdis_runs_example_tree_imports_and_plans_by_suite_id() -> None:
    catalog = InMemoryCatalog()
    counts = await import_config_tree(catalog, SEED_CONFIGS, org_id="o", env={})
    assert counts["suites"] == 1 and counts["environments"] == 1 and counts["tests"] == 1
    assert counts["auth"] == 1
    suite = await catalog.get(CatalogKind.SUITES, None, "legal-tests")
    assert suite is not None
    source = CatalogDocuments(catalog, "o")  # the auth config comes from the catalog
    plan = await plan_from_documents(
        suite, source, env={"BOT_API_KEY": "k", "DEV_BEARER_TOKEN": "t"}
    )
    assert [(e.test.id, e.assistant.id) for e in plan.entries] == [
        ("finra-suitability-basic", "assistants/dev/v1")
    ]
    entry = plan.entries[0]
    assert "retail-us-low-literacy" in entry.personas
    assert set(entry.requests) >= {"accounts.create_test", "accounts.get", "accounts.update_risk"}
    assert "auth/dev1" in entry.auths


async def test_a_channel_whose_adapter_is_not_installed_fails_the_run_saying_so(
    aiohttp_client: object, config_dir: Path
) -> None:
    from lamdis_core.testing.memory import InMemoryRunStore

    from tests.http._helpers import wait_status

    store, catalog = InMemoryRunStore(), InMemoryCatalog()
    await import_config_tree(catalog, config_dir, org_id="o")
    await catalog.upsert(
        CatalogKind.ENVIRONMENTS,
        "o",
        {"id": "pigeon", "env": {"channel": "carrier_pigeon", "model": "m"}},
    )
    # No targets given: adapters come from entry points, loaded per channel on first use.
    app = build_app(
        Settings(config_dir=config_dir, env={}, drain_seconds=0),
        store=store,
        catalog=catalog,
        poll_seconds=0.05,
    )
    client = await aiohttp_client(app)  # type: ignore[operator]
    bad = await client.post("/internal/runs/start", json={"suiteId": "smoke", "envId": "pigeon"})
    good = await client.post("/internal/runs/start", json={"suiteId": "smoke"})
    failed = await wait_status(client, (await bad.json())["runId"])
    passed = await wait_status(client, (await good.json())["runId"])
    assert failed["status"] == "failed"
    assert "carrier_pigeon" in failed["error"] and "lamdis.targets" in failed["error"]
    assert passed["status"] == "passed"


def test_import_without_a_database_explains_what_to_set(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lamdis_http.cli import build_parser

    for name in ("DB_PROVIDER", "MONGO_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    # The handler alone: main() would configure structlog for the whole test process.
    args = build_parser().parse_args(["import", str(config_dir), "--org", "acme"])
    assert args.handler(args) == 2
    err = capsys.readouterr().err
    assert "MONGO_URL or DATABASE_URL" in err
