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


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_each_command_alone_parses_as_in_the_full_parser() -> None:
    """Running a command registers only its module, found by name (``demo-assistant`` is
    ``_demo_assistant``): every command's own parser is the one the full parser holds."""
    from lamdis_http.cli import COMMAND_MODULES, build_parser

    full = _commands(build_parser())
    assert sorted(f"_{name.replace('-', '_')}" for name in full) == sorted(COMMAND_MODULES)
    for name, parser in full.items():
        alone = _commands(build_parser(name))
        assert list(alone) == [name]
        assert alone[name].format_help() == parser.format_help()
    # An unknown command gets the full parser, so the error lists every command.
    assert _commands(build_parser("nosuch")).keys() == full.keys()


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


def test_the_cli_imports_structlog_without_rich_and_leaves_it_importable() -> None:
    """structlog falls back to plain tracebacks in the CLI; rich still imports later."""
    code = (
        "import sys\n"
        "from lamdis_http.cli import _import_structlog_without_rich\n"
        "_import_structlog_without_rich()\n"
        "import structlog.dev\n"
        "print(structlog.dev.rich is None, [m for m in sys.modules if m.startswith('rich')])\n"
        "import rich.pretty, rich.console\n"
        "print('importable')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.split() == ["True", "[]", "importable"]


def _imported_by(argv: list[str], modules: tuple[str, ...]) -> list[str]:
    """The ``modules`` imported by the ``lamdis`` program given ``argv``; read at exit (the
    program runs ``atexit`` functions before it leaves)."""
    code = (
        "import atexit, json, sys\n"
        f"sys.argv = ['lamdis', *{argv!r}]\n"
        f"atexit.register(lambda: print(json.dumps([m for m in {list(modules)!r} "
        "if m in sys.modules])))\n"
        "from lamdis_http.cli import program\n"
        "program()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode in (0, 1), proc.stderr
    found: list[str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found


def test_the_program_runs_atexit_functions_flushes_and_keeps_the_exit_code(
    tmp_path: Path,
) -> None:
    """The program leaves without tearing the interpreter down, but only after what a normal
    exit does that anyone can see: atexit functions run, buffered output written, the
    command's exit code (2: usage error) returned."""
    missing = tmp_path / "nothing-here.yaml"
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stdout.write('atexit ran\\n'))\n"
        # Buffered, not yet flushed: a pipe is block-buffered.
        "sys.stdout.write('before the command\\n')\n"
        f"sys.argv = ['lamdis', 'run', {str(missing)!r}]\n"
        "from lamdis_http.cli import program\n"
        "program()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout.splitlines() == ["before the command", "atexit ran"]
    assert "nothing-here.yaml" in proc.stderr


# What validating files does not need: no logging set-up, no event loop, no HTTP, no TLS, no
# ports, results, reports or prices.
NOT_FOR_VALIDATE = (
    "aiohttp",
    "asyncio",
    "ssl",
    "rich",
    "structlog",
    "openai",
    "importlib.metadata",
    "lamdis_core.engine",
    "lamdis_core.logs",
    "lamdis_core.ports",
    "lamdis_core.domain.results",
    "lamdis_core.reports",
    "lamdis_core.pricing",
    "lamdis_http.targets",
)


def test_help_imports_no_heavy_module() -> None:
    assert _imported_by(["--help"], (*HEAVY, *NOT_FOR_VALIDATE)) == []


def test_validate_imports_no_http_client_logging_or_event_loop() -> None:
    # ...nor other commands' modules: only the command being run is registered.
    others = ("lamdis_http.cli._run", "lamdis_http.cli._serve")
    assert _imported_by(["validate", "examples/configs"], (*NOT_FOR_VALIDATE, *others)) == []
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


def test_only_the_program_pauses_the_garbage_collector_and_only_for_run() -> None:
    """``program`` pauses it for ``lamdis run`` until the run's start-up is done; an embedder
    whose collector is off keeps it off, and other commands never see it paused."""
    code = (
        "import gc, sys\n"
        "from lamdis_http.cli import _collector as cli\n"
        "gc.disable()\n"
        "cli.start_up_done()\n"
        "print(gc.isenabled(), gc.get_freeze_count())\n"
        "gc.enable()\n"
        "cli.pause_collector()\n"
        "print(gc.isenabled())\n"
        "cli.start_up_done()\n"
        "print(gc.isenabled(), gc.get_freeze_count() > 0)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.split() == ["False", "0", "False", "True", "True"]
    validate = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print(gc.isenabled(), gc.get_freeze_count()))\n"
        "sys.argv = ['lamdis', 'validate', 'examples/configs']\n"
        "from lamdis_http.cli import program\n"
        "program()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", validate], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].split() == ["True", "0"]
