"""``lamdis import`` warns about an auth file holding a credential in clear: auth documents
are shared by every server on the database, so they should hold ``${NAME}`` references only.
The import still succeeds (a throwaway token in a test tree is common); the warning names the
file and the field, never the value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.config.conftest import write_tree

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

CLI = [sys.executable, "-m", "lamdis_http.cli"]
IN_CLEAR = ("sk-live-static-0001", "sk-live-pattern-0002", "sk-live-oauth-0003")


def test_import_warns_about_each_credential_in_clear_and_imports(
    tmp_path: Path, postgres_dsn: str
) -> None:
    root = write_tree(
        tmp_path / "configs",
        {
            "assistants/dev.json": {
                "id": "dev",
                "authRef": "auth/static",
                "env": {"channel": "http_chat", "baseUrl": "http://127.0.0.1:9"},
            },
            "auth/static.json": {
                "headers": {"Authorization": f"Bearer {IN_CLEAR[0]}", "X-Tenant": "acme"}
            },
            "auth/pattern.json": {
                "env": {"TOKEN": IN_CLEAR[1]},
                "pattern": {"template": "Bearer ${TOKEN}"},
            },
            "auth/oauth.json": {
                "kind": "oauth_client_credentials",
                "clientId": "lamdis",
                "clientSecret": IN_CLEAR[2],
                "tokenUrl": "https://login.example.com/token",
            },
            "auth/by_reference.json": {
                "headers": {"Authorization": "Bearer ${BOT_TOKEN}", "X-Api-Key": "${BOT_KEY}"}
            },
        },
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAMDIS_", "MONGO", "DB_"))}
    env["DATABASE_URL"] = postgres_dsn

    done = subprocess.run(
        [*CLI, "import", str(root), "--org", "acme"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "4 auth" in done.stdout, done.stdout
    warnings = [line for line in done.stderr.splitlines() if "catalog.literal_secret" in line]
    found = {
        (file, field)
        for file, field in [
            ("auth/static.json", "headers.Authorization"),
            ("auth/pattern.json", "env.TOKEN"),
            ("auth/oauth.json", "clientSecret"),
        ]
        if any(file in line and field in line for line in warnings)
    }
    assert len(found) == 3 and len(warnings) == 3, done.stderr
    assert "${NAME}" in warnings[0]
    assert not any("by_reference" in line or "X-Tenant" in line for line in warnings)
    for secret in IN_CLEAR:
        assert secret not in done.stderr + done.stdout
