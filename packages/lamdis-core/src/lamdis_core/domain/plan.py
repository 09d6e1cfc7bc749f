"""A run plan: tests resolved against their assistants, ready for the engine.

The config loader builds plans from files (local mode) or from catalog documents (hosted);
the engine only ever sees plans, so both modes run the same code.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from lamdis_core.domain.base import Value
from lamdis_core.domain.config import Assistant, AuthConfig, Persona, RequestDef, TestCase
from lamdis_core.domain.errors import ConfigProblem


@attrs.frozen(kw_only=True, repr=False, eq=False)
class PlanEntry(Value):
    """One test against one assistant, with everything it references already resolved.

    Attributes:
        test: the test.
        assistant: the assistant it runs against.
        personas: personas the test may name, by id.
        requests: request definitions the test may call, by id.
        auths: auth configs named by the assistant or the requests, by the ref as written.
        source: the file the test came from (or ``catalog:<id>``).
        file_id: the test file's ``id``, if it has one.
    """

    test: TestCase
    assistant: Assistant
    personas: Mapping[str, Persona] = attrs.Factory(dict)
    requests: Mapping[str, RequestDef] = attrs.Factory(dict)
    auths: Mapping[str, AuthConfig] = attrs.Factory(dict)
    source: str = ""
    file_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.test.id}@{self.assistant.id}"


@attrs.frozen(kw_only=True, repr=False, eq=False)
class RunPlan(Value):
    """What to run. ``warnings`` are problems that do not stop a run (a missing env var).

    ``skipped`` holds the entries of disabled tests (``enabled: false``): not run, reported
    as skipped.

    ``env`` is the environment the plan's documents may read when it differs from the
    engine's own: a catalog plan carries a
    :class:`~lamdis_core.config.env_policy.RestrictedEnv` (``None``: the engine's).
    """

    entries: list[PlanEntry] = attrs.Factory(list)
    warnings: list[ConfigProblem] = attrs.Factory(list)
    suite_id: str | None = None
    files: list[str] = attrs.Factory(list)
    skipped: list[PlanEntry] = attrs.Factory(list)
    env: Mapping[str, str] | None = attrs.field(default=None, repr=False, eq=False)
