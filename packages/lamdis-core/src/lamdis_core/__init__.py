"""lamdis-core: the pure core of lamdis (no network or database library is imported here)."""

__version__ = "0.1.0"
