"""The bundled demo assistant: a deterministic investing helper speaking ``http_chat``.

It also serves a small in-memory accounts API and an OAuth client-credentials token endpoint,
so the examples can show ``request`` steps with static and OAuth auth. Test-only fault
behaviours (``#fail:500``, ``#fail:hang``...) are listed in the package README.
"""

from lamdis_http.demo._app import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_STATIC_TOKEN,
    make_demo_app,
    start_demo_server,
)
from lamdis_http.demo._replies import DISCLAIMER

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_STATIC_TOKEN",
    "DISCLAIMER",
    "make_demo_app",
    "start_demo_server",
]
