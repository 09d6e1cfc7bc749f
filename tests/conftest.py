"""Shared fixtures. Server fixtures live in tests/fixtures/ and are loaded as plugins
(``tests/fixtures/servers.py`` is a plain helper module, not a plugin)."""

import os

from hypothesis import settings

pytest_plugins = [
    "pytester",
    "tests.fixtures.postgres",
    "tests.fixtures.llm_servers",
    "tests.fixtures.ferretdb",
]

settings.register_profile("fast", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "fast")
)
