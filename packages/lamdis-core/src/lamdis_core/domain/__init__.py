"""The domain model: configuration objects, results and errors."""

from lamdis_core.domain.config import *  # noqa: F403 - the domain namespace re-exports its parts
from lamdis_core.domain.errors import *  # noqa: F403
from lamdis_core.domain.results import *  # noqa: F403
