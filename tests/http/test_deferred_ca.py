"""The CLI defers aiohttp's CA loading to the first TLS connection: nothing read at import,
and HTTPS verification exactly as before — against a real TLS server on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Runs in its own interpreter: the deferral only applies to an aiohttp not yet imported.
CLIENT = """
import asyncio, json, ssl, sys
from lamdis_http._deferred_ca import defer_aiohttp_ca_loading

defer_aiohttp_ca_loading()
import aiohttp
from aiohttp import connector, web

verified = connector._SSL_CONTEXT_VERIFIED
# The C method, not the subclass's: reading the store must not be what loads it.
loaded_at_import = ssl.SSLContext.cert_store_stats(verified)["x509_ca"]

async def main():
    app = web.Application()
    app.router.add_get("/", lambda request: web.Response(text="hello"))
    runner = web.AppRunner(app)
    await runner.setup()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(sys.argv[1], sys.argv[2])
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    url = f"https://127.0.0.1:{port}/"
    outcome = {"loaded_at_import": loaded_at_import}
    async with aiohttp.ClientSession() as session:
        try:
            async with session.get(url) as response:
                outcome["verified"] = await response.text()
        except aiohttp.ClientConnectorCertificateError as exc:
            outcome["verified"] = "certificate error: " + str(exc.certificate_error)
        async with session.get(url, ssl=False) as response:
            outcome["unverified"] = await response.text()
    outcome["loaded_after"] = ssl.SSLContext.cert_store_stats(verified)["x509_ca"]
    outcome["class"] = type(verified).__name__
    outcome["verify_mode"] = int(verified.verify_mode)
    outcome["check_hostname"] = verified.check_hostname
    await runner.cleanup()
    print(json.dumps(outcome))

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def _client(certificate: tuple[Path, Path], **env: str) -> dict[str, object]:
    cert, key = certificate
    base = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    proc = subprocess.run(
        [sys.executable, "-c", CLIENT, str(cert), str(key)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **env},
    )
    assert proc.returncode == 0, proc.stderr
    outcome: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return outcome


def test_the_ca_is_read_on_first_use_and_honours_ssl_cert_file(
    certificate: tuple[Path, Path],
) -> None:
    """With the test certificate as the system bundle (``SSL_CERT_FILE``), the default context
    verifies the server: it read the bundle, lazily, from the standard place."""
    outcome = _client(certificate, SSL_CERT_FILE=str(certificate[0]))
    assert outcome["loaded_at_import"] == 0
    assert outcome["verified"] == "hello"
    assert outcome["unverified"] == "hello"
    assert outcome["loaded_after"] == 1  # the one certificate of that bundle
    assert outcome["class"] == "CALoadedOnFirstUse"
    assert (outcome["verify_mode"], outcome["check_hostname"]) == (2, True)  # CERT_REQUIRED


def test_an_untrusted_server_is_still_refused(certificate: tuple[Path, Path]) -> None:
    """With the system's own bundle, the self-signed server fails verification: deferring the
    load did not switch verification off; ``ssl=False`` still reaches it."""
    outcome = _client(certificate)
    assert outcome["loaded_at_import"] == 0
    assert str(outcome["verified"]).startswith("certificate error:")
    assert "certificate verify failed" in str(outcome["verified"])
    assert outcome["unverified"] == "hello"
