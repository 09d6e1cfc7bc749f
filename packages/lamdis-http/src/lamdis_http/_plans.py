"""The plan builder and the catalog import moved to :mod:`lamdis_core.service.plans` (they need
no aiohttp); this module keeps the old import path."""

from __future__ import annotations

from lamdis_core.service.plans import CatalogPlanBuilder, import_config_tree

__all__ = ["CatalogPlanBuilder", "import_config_tree"]
