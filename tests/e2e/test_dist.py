"""The wheelhouse as a new user meets it: `make dist`'s script builds every package, and the
README's install command puts a working `lamdis` into a fresh virtual environment.

One module-scoped build and one venv serve every test here (pip takes the lamdis packages from
the wheelhouse and their dependencies from PyPI, through pip's cache after the first run).
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import subprocess
import tarfile
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p.name for p in (REPO / "packages").iterdir() if (p / "pyproject.toml").exists())
LICENSE = (REPO / "LICENSE").read_bytes()
# The README's install command for a wheelhouse, exactly as shown there.
README_INSTALL = "pip install --find-links dist 'lamdis-http[postgres,openai]'"


def _run(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600):
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make dist`` into a temporary folder."""
    work = tmp_path_factory.mktemp("wheelhouse")
    done = _run(["make", "--no-print-directory", "dist", f"DIST={work / 'dist'}"], cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED" in done.stdout and "FAILED" not in done.stdout, done.stdout
    return work / "dist"


@pytest.fixture(scope="module")
def installed(wheelhouse: Path) -> Path:
    """A fresh venv with the README's wheelhouse command run in it; yields its bin folder."""
    root = wheelhouse.parent
    venv.EnvBuilder(with_pip=True, clear=True).create(root / "venv")
    bin_dir = root / "venv" / "bin"
    command = README_INSTALL.replace("pip install", f"{bin_dir / 'pip'} install --quiet", 1)
    done = _run(["bash", "-c", command], cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    return bin_dir


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.BytesParser().parsebytes(archive.read(name))


def test_every_package_has_a_wheel_and_an_sdist_with_the_licence(wheelhouse: Path) -> None:
    """Each workspace package is built both ways, and each artifact carries the LICENSE."""
    for package in PACKAGES:
        stem = package.replace("-", "_")
        version = tomllib.loads((REPO / "packages" / package / "pyproject.toml").read_text())[
            "project"
        ]["version"]
        wheel = wheelhouse / f"{stem}-{version}-py3-none-any.whl"
        sdist = wheelhouse / f"{stem}-{version}.tar.gz"
        assert wheel.is_file() and sdist.is_file(), sorted(p.name for p in wheelhouse.iterdir())
        with zipfile.ZipFile(wheel) as archive:
            assert archive.read(f"{stem}-{version}.dist-info/licenses/LICENSE") == LICENSE
        with tarfile.open(sdist) as archive:
            member = archive.extractfile(f"{stem}-{version}/LICENSE")
            assert member is not None and member.read() == LICENSE


def test_wheel_metadata_is_complete(wheelhouse: Path) -> None:
    """Licence expression, project URLs, classifiers and the README as the description."""
    for wheel in sorted(wheelhouse.glob("*.whl")):
        meta = _metadata(wheel)
        assert meta["License-Expression"] == "Apache-2.0", wheel.name
        urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL", []))
        assert {"Homepage", "Repository", "Issues", "Changelog"} <= set(urls), wheel.name
        classifiers = meta.get_all("Classifier", [])
        assert "Programming Language :: Python :: 3.11" in classifiers, wheel.name
        assert meta["Description-Content-Type"] == "text/markdown", wheel.name
        assert meta.get_payload().lstrip().startswith("# lamdis"), wheel.name


def test_the_core_wheel_carries_the_generated_schemas(wheelhouse: Path) -> None:
    """lamdis_core/schemas/ in the wheel: generated from the model at build time."""
    from lamdis_core.config.json_schema import all_schemas

    (wheel,) = wheelhouse.glob("lamdis_core-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {
            Path(name).name: json.loads(archive.read(name))
            for name in archive.namelist()
            if name.startswith("lamdis_core/schemas/")
        }
    assert shipped == all_schemas()


def test_package_licence_copies_match_the_repository_licence() -> None:
    """Each package keeps its own copy (an sdist cannot reach outside its folder); they must
    not drift from the one at the root."""
    for package in PACKAGES:
        assert (REPO / "packages" / package / "LICENSE").read_bytes() == LICENSE, package


def test_readme_shows_the_wheelhouse_install_command() -> None:
    """The command this module runs is the one the README shows."""
    assert README_INSTALL in (REPO / "README.md").read_text()


def test_installed_cli_helps_and_validates(installed: Path) -> None:
    """The wheelhouse install gives a `lamdis` that starts and validates the examples."""
    helped = _run([str(installed / "lamdis"), "--help"], cwd=REPO)
    assert helped.returncode == 0, helped.stderr
    assert "validate" in helped.stdout and "serve" in helped.stdout
    validated = _run([str(installed / "lamdis"), "validate", "examples/configs"], cwd=REPO)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    # It is the wheelhouse's lamdis, not the workspace's editable one.
    where = _run(
        [str(installed / "python"), "-c", "import lamdis_core; print(lamdis_core.__file__)"],
        cwd=REPO,
    )
    assert "site-packages" in where.stdout and str(REPO / "packages") not in where.stdout


@pytest.mark.mongo
def test_missing_adapter_error_suggests_a_command_that_works(
    installed: Path, wheelhouse: Path, mongo_url: str
) -> None:
    """Asking for the MongoDB store without it installed names a command; running that
    command (its wheelhouse form) makes the same `lamdis import` succeed."""
    env = {**os.environ, "MONGO_URL": mongo_url, "DB_PROVIDER": "mongo"}
    argv = [str(installed / "lamdis"), "import", str(REPO / "examples" / "configs"), "--org", "o"]
    failed = _run(argv, cwd=REPO, env=env)
    assert failed.returncode == 2, failed.stdout + failed.stderr
    found = re.search(r"pip install --find-links dist '([^']+)'", failed.stderr)
    assert found, failed.stderr
    assert found.group(1).startswith("lamdis-store-mongo==")
    installed_it = _run(
        [str(installed / "pip"), "install", "--quiet", "--find-links", "dist", found.group(1)],
        cwd=wheelhouse.parent,
    )
    assert installed_it.returncode == 0, installed_it.stdout + installed_it.stderr
    imported = _run(argv, cwd=REPO, env=env)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "imported into org 'o'" in imported.stdout
