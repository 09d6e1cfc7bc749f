"""Reference fakes that pass the same contract suites as the real adapters."""

from lamdis_core.testing.memory import InMemoryCatalog, InMemoryRunStore, open_memory_store

__all__ = ["InMemoryCatalog", "InMemoryRunStore", "open_memory_store"]
