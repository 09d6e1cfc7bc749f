"""Errors of the Mongo adapter."""

from __future__ import annotations

from lamdis_core.domain.errors import LamdisError


class MongoStoreError(LamdisError):
    """MongoDB could not be reached or refused an operation; the message says which and why."""
