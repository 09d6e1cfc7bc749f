"""Wheel build hook: put the generated JSON Schemas into the wheel as ``lamdis_core/schemas``.

They are generated from the domain model at build time (never committed, so they cannot go
stale), for tools that want the files without running ``lamdis schema``. Editable installs
skip it: the generator is right there.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class SchemasHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        src = str(Path(self.root) / "src")
        sys.path.insert(0, src)
        try:
            from lamdis_core.config.json_schema import write_schemas
        finally:
            sys.path.remove(src)
        out = Path(tempfile.mkdtemp(prefix="lamdis-schemas-"))
        write_schemas(out)
        build_data["force_include"][str(out)] = "lamdis_core/schemas"
