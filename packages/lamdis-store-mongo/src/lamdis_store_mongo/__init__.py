"""lamdis adapter: run store and catalog on MongoDB, through PyMongo's async API.

Install it and set ``DB_PROVIDER=mongo`` and ``MONGO_URL``; the composition finds
``open_store`` through the ``lamdis.stores`` entry point ``mongo``.
"""

from lamdis_store_mongo._convert import configure_converter
from lamdis_store_mongo._errors import MongoStoreError
from lamdis_store_mongo._open import DEFAULT_URL, open_store
from lamdis_store_mongo.catalog import MongoCatalog
from lamdis_store_mongo.store import MongoRunStore

__all__ = [
    "DEFAULT_URL",
    "MongoCatalog",
    "MongoRunStore",
    "MongoStoreError",
    "configure_converter",
    "open_store",
]
