"""pytest-lamdis: lamdis test files collected as pytest items (see the README)."""

__version__ = "0.1.0"
