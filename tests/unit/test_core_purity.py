"""lamdis-core stays free of network and database libraries (DESIGN §1)."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import lamdis_core

BANNED = ("aiohttp", "pymongo", "motor", "asyncpg", "openai", "boto3", "aioboto3", "botocore")
CORE_SRC = Path(lamdis_core.__file__).parent


def test_no_core_module_imports_a_network_or_database_library() -> None:
    offenders = []
    for path in CORE_SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [
                f"{path.relative_to(CORE_SRC)}: {n}" for n in names if n.split(".")[0] in BANNED
            ]
    assert offenders == []


def test_importing_every_core_module_loads_no_banned_library() -> None:
    modules = [m.name for m in pkgutil.walk_packages([str(CORE_SRC)], prefix="lamdis_core.")]
    assert len(modules) > 10
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {BANNED!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
