"""Numbers read from environment variables, with errors that name the variable.

Every package reads its settings through these, so a bad ``LAMDIS_MAX_RUNS`` and a bad
``OPENAI_TEMPERATURE`` are reported the same way. Empty or absent means the default.
"""

from __future__ import annotations

from collections.abc import Mapping

from lamdis_core.domain.errors import ConfigError, ConfigProblem


def _problem(name: str, expected: str, raw: str) -> ConfigError:
    return ConfigError(
        [
            ConfigProblem(
                file=f"environment variable {name}", message=f"expected {expected}, got {raw!r}"
            )
        ]
    )


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int | None = None) -> int:
    """An integer setting; ``minimum`` is inclusive.

    Raises:
        ConfigError: the value is not an integer or is below ``minimum``.
    """
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _problem(name, "an integer", raw) from None
    if minimum is not None and value < minimum:
        raise _problem(name, f"an integer >= {minimum}", raw)
    return value


def env_float(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    above: float | None = None,
) -> float:
    """A number setting; ``minimum`` is inclusive, ``above`` exclusive.

    Raises:
        ConfigError: the value is not a finite number or is out of range.
    """
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _problem(name, "a number", raw) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise _problem(name, "a finite number", raw)
    if minimum is not None and value < minimum:
        raise _problem(name, f"a number >= {minimum:g}", raw)
    if above is not None and value <= above:
        raise _problem(name, f"a number > {above:g}", raw)
    return value


def env_optional_float(
    env: Mapping[str, str], name: str, *, above: float | None = None
) -> float | None:
    """A number, or ``None`` when the variable is absent or empty."""
    if not env.get(name, "").strip():
        return None
    return env_float(env, name, 0.0, above=above)
