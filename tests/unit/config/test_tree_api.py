"""The loader's tree API (used by ``lamdis import``) classifies and resolves as the loader."""

from __future__ import annotations

import pytest
from lamdis_core.config.loader import read_config_tree, resolve_reference

from tests.unit.config.conftest import LAMDIS_RUNS_CONFIGS

pytestmark = pytest.mark.skipif(
    not LAMDIS_RUNS_CONFIGS.is_dir(), reason="shared/lamdis-runs-configs is not beside the checkout"
)


def test_read_config_tree_classifies_every_lamdis_runs_file() -> None:
    root = LAMDIS_RUNS_CONFIGS.resolve()
    kinds = {doc.path.relative_to(root).as_posix(): doc.kind for doc in read_config_tree(root)}
    assert kinds == {
        "assistants/dev/v1.json": "assistant",
        "auth/dev1.json": "auth",
        "personas/retail.json": "personas",
        "requests/accounts.json": "requests",
        "suites/legal-tests.json": "suite",
        "tests/finra-checks/p1-tests.json": "test",
    }


def test_resolve_reference_searches_nearest_folder_then_ancestors() -> None:
    root = LAMDIS_RUNS_CONFIGS.resolve()
    test_file = root / "tests" / "finra-checks" / "p1-tests.json"
    assert (
        resolve_reference(root, "personas/retail.json", test_file) == root / "personas/retail.json"
    )
    assert (
        resolve_reference(root, "assistants/dev/v1", test_file) == root / "assistants/dev/v1.json"
    )
    assert (
        resolve_reference(root, "assistants/dev", test_file, folder=True) == root / "assistants/dev"
    )
    assert resolve_reference(root, "../../etc/passwd", test_file) is None
    assert resolve_reference(root, "personas/missing", test_file) is None
