"""The adapter registry: provider selection from the environment and entry-point loading."""

from __future__ import annotations

import pytest
from lamdis_core.domain.errors import AdapterNotInstalledError, ConfigError
from lamdis_core.offline_judge import OfflineJudge
from lamdis_core.testing.memory import InMemoryCatalog, InMemoryRunStore
from lamdis_http import registry


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "offline"),
        ({"OPENAI_API_KEY": "sk-test"}, "openai"),
        ({"JUDGE_BASE_URL": "http://127.0.0.1:9", "OPENAI_API_KEY": "sk-test"}, "external"),
        ({"JUDGE_PROVIDER": "Bedrock", "OPENAI_API_KEY": "sk-test"}, "bedrock"),
        ({"JUDGE_PROVIDER": "offline", "OPENAI_API_KEY": "sk-test"}, "offline"),
    ],
)
def test_judge_provider_follows_explicit_setting_then_auto_detection(
    env: dict[str, str], expected: str
) -> None:
    """JUDGE_PROVIDER wins; else JUDGE_BASE_URL, then OPENAI_API_KEY, then offline."""
    assert registry.judge_provider(env) == expected


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "local"),
        ({"MONGO_URL": "mongodb://127.0.0.1:1/x"}, "mongo"),
        ({"DATABASE_URL": "postgresql://127.0.0.1:1/x"}, "postgres"),
        ({"DB_PROVIDER": "local", "DATABASE_URL": "postgresql://127.0.0.1:1/x"}, "local"),
    ],
)
def test_db_provider_auto_detects_like_the_seed(env: dict[str, str], expected: str) -> None:
    """DB_PROVIDER wins; else MONGO_URL means mongo, DATABASE_URL postgres, neither local."""
    assert registry.db_provider(env) == expected


def test_unknown_provider_values_are_config_errors_listing_the_choices() -> None:
    """A typo in JUDGE_PROVIDER or DB_PROVIDER names the variable and the valid values."""
    with pytest.raises(ConfigError, match=r"JUDGE_PROVIDER.*openai, bedrock, external, offline"):
        registry.judge_provider({"JUDGE_PROVIDER": "gpt"})
    with pytest.raises(ConfigError, match=r"DB_PROVIDER.*local, mongo, postgres"):
        registry.db_provider({"DB_PROVIDER": "sqlite"})


def test_load_judge_without_llm_settings_gives_the_offline_judge() -> None:
    """No LLM configured: the offline judge, which says it is offline."""
    judge = registry.load_judge({})
    assert isinstance(judge, OfflineJudge)
    assert judge.offline is True


async def test_open_store_local_gives_the_in_memory_store_and_catalog() -> None:
    """DB_PROVIDER=local opens the in-memory store through its entry point."""
    store, catalog = await registry.open_store({"DB_PROVIDER": "local"})
    try:
        assert isinstance(store, InMemoryRunStore)
        assert isinstance(catalog, InMemoryCatalog)
    finally:
        await store.aclose()


def test_missing_adapter_names_group_value_and_package() -> None:
    """An adapter nobody installed is an error naming the group, value and pip command."""
    with pytest.raises(AdapterNotInstalledError) as caught:
        registry.load_target_factories({}, channels=["carrier_pigeon"])
    assert "'lamdis.targets'" in str(caught.value)
    assert "'carrier_pigeon'" in str(caught.value)
    with pytest.raises(AdapterNotInstalledError) as caught:
        registry._load(registry.STORES_GROUP, "nosuchdb")
    assert "nosuchdb" in str(caught.value)


def test_missing_known_adapter_offers_the_package_to_install() -> None:
    """A known adapter's error names its own distribution at the installed core's version,
    from PyPI and from a wheelhouse (an extra of lamdis-http would re-resolve lamdis-core)."""
    from importlib.metadata import version

    error = registry._not_installed(registry.STORES_GROUP, "postgres")
    pinned = f"lamdis-store-postgres=={version('lamdis-core')}"
    assert f"pip install '{pinned}'" in str(error)
    assert f"pip install --find-links dist '{pinned}'" in str(error)
    assert "lamdis-http[" not in str(error)


def test_load_target_factories_only_loads_the_channels_asked_for() -> None:
    """Asking for http_chat gives exactly that factory."""
    factories = registry.load_target_factories({}, channels=["http_chat"])
    assert list(factories) == ["http_chat"]
    assert factories["http_chat"].channel == "http_chat"
