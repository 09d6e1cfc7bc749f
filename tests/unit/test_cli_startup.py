"""``lamdis --help`` stays fast: building the parser imports nothing heavy."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lamdis_http.cli._common import UsageError
from lamdis_http.cli._run import DEFAULT_CONCURRENCY, options_from_args

REPO = Path(__file__).resolve().parents[2]

HEAVY = (
    "aiohttp",
    "rich",
    "structlog",
    "cattrs",
    "yaml",
    "lamdis_core.engine",
    "openai",
    "asyncpg",
)


def test_building_the_parser_imports_no_heavy_module() -> None:
    """Every registered command module defers its heavy imports to its handler."""
    code = (
        "import json, sys\n"
        "from lamdis_http.cli import build_parser\n"
        "build_parser()\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def _args(**overrides: object) -> argparse.Namespace:
    base = {
        "paths": ["t.json"],
        "config_root": None,
        "concurrency": None,
        "json": None,
        "junit": None,
        "markdown": None,
        "results_dir": "lamdis-results",
        "filter": None,
        "tag": [],
        "repeat": "1",
        "quiet": False,
        "no_cache": False,
        "require_llm_judge": False,
        "min_pass_rate": None,
        "judge_samples": "1",
    }
    base.update(overrides)
    return argparse.Namespace(**base)


def test_concurrency_comes_from_the_flag_then_the_environment_then_the_default() -> None:
    """--concurrency beats LAMDIS_CONCURRENCY, which beats the default of 8."""
    assert options_from_args(_args(), {}).concurrency == DEFAULT_CONCURRENCY == 8
    assert options_from_args(_args(), {"LAMDIS_CONCURRENCY": "3"}).concurrency == 3
    assert options_from_args(_args(concurrency="5"), {"LAMDIS_CONCURRENCY": "3"}).concurrency == 5


@pytest.mark.parametrize(
    ("overrides", "env", "message"),
    [
        ({"concurrency": "0"}, {}, "--concurrency must be a positive integer, got '0'"),
        ({}, {"LAMDIS_CONCURRENCY": "lots"}, "LAMDIS_CONCURRENCY must be a positive integer"),
        ({"repeat": "-2"}, {}, "--repeat must be an integer from 1 to 10,000, got '-2'"),
    ],
)
def test_bad_numbers_are_usage_errors_naming_the_option(
    overrides: dict[str, object], env: dict[str, str], message: str
) -> None:
    """A bad number names the flag or variable it came from and what was expected."""
    with pytest.raises(UsageError, match=message.replace("'", ".")):
        options_from_args(_args(**overrides), env)


def test_the_cli_imports_structlog_without_rich_tracebacks_and_leaves_them_importable() -> None:
    """structlog falls back to plain tracebacks in the CLI; rich.pretty still imports later."""
    code = (
        "import sys\n"
        "from lamdis_http.cli import _import_structlog_without_rich_tracebacks\n"
        "_import_structlog_without_rich_tracebacks()\n"
        "import structlog.dev\n"
        "print(structlog.dev.rich is None, 'rich.traceback' in sys.modules)\n"
        "import rich.pretty\n"
        "print('importable')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.split() == ["True", "False", "importable"]


def _imported_by(argv: list[str], modules: tuple[str, ...]) -> list[str]:
    code = (
        "import json, runpy, sys\n"
        f"sys.argv = ['lamdis', *{argv!r}]\n"
        "try:\n"
        "    runpy.run_module('lamdis_http.cli', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([m for m in {list(modules)!r} if m in sys.modules]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=REPO,
    )
    found: list[str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found


# What validating files does not need: no logging set-up, no event loop, no HTTP, no TLS.
NOT_FOR_VALIDATE = (
    "aiohttp",
    "asyncio",
    "ssl",
    "rich",
    "structlog",
    "openai",
    "importlib.metadata",
    "lamdis_core.engine",
)


def test_help_imports_no_heavy_module() -> None:
    assert _imported_by(["--help"], (*HEAVY, *NOT_FOR_VALIDATE)) == []


def test_validate_imports_no_http_client_logging_or_event_loop() -> None:
    assert _imported_by(["validate", "examples/configs"], NOT_FOR_VALIDATE) == []
    # ...and it did validate (the examples load, so the loader itself was imported).
    assert _imported_by(["validate", "examples/configs"], ("lamdis_core.config.loader",)) == [
        "lamdis_core.config.loader"
    ]


def test_the_builtin_adapters_match_the_declared_entry_points() -> None:
    """The registry loads lamdis-http's own adapters without scanning distributions; the
    table it uses for that must say what the package's entry points say."""
    from importlib.metadata import distribution

    from lamdis_http import registry

    declared = {
        (ep.group, ep.name): ep.value
        for ep in distribution("lamdis-http").entry_points
        if ep.group.startswith("lamdis.")
    }
    assert declared == registry._BUILTIN


def test_the_version_in_reports_is_the_installed_one() -> None:
    from importlib.metadata import version

    import lamdis_core

    assert lamdis_core.__version__ == version("lamdis-core")
