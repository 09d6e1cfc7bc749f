"""What model calls cost in money, and the budget that stops a run before it costs too much.

Prices are USD per million tokens, per ``provider:model`` (``openai:gpt-4o-mini``,
``bedrock:anthropic.claude-3-haiku-20240307-v1:0``). The packaged table (``prices.json``)
carries the OpenAI and Bedrock models lamdis uses, each with the date its price took effect
and where it is published; a user file (``--prices FILE`` or ``LAMDIS_PRICES``) overrides or
adds entries. A call whose model has no price has an *unknown* cost, never 0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from lamdis_core.domain.base import Record, Value
from lamdis_core.domain.errors import ConfigError, ConfigProblem
from lamdis_core.domain.results import Usage
from lamdis_core.logs import get_logger

logger = get_logger()

PROVIDERS = ("openai", "bedrock")
"""Providers whose models a price table may name (the judge adapters lamdis ships)."""

_FIELDS = {"input", "output", "asOf", "source"}


@attrs.frozen(repr=False, eq=False)
class Price(Value):
    """USD per million input (prompt) and output (completion) tokens."""

    input: float
    output: float
    as_of: str | None = None
    source: str | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


@attrs.define(repr=False, eq=False)
class PriceTable(Record):
    """Prices by ``provider:model``; :meth:`price` turns a call's usage into its cost."""

    prices: dict[str, Price] = attrs.Factory(dict)
    _warned: set[str] = attrs.field(factory=set, repr=False)

    @classmethod
    def default(cls) -> PriceTable:
        """The packaged table."""
        from importlib import resources  # only when the packaged table is read

        text = resources.files(__package__).joinpath("prices.json").read_text(encoding="utf-8")
        return cls(_parse(json.loads(text), "lamdis_core/pricing/prices.json"))

    @classmethod
    def load(cls, path: str | None) -> PriceTable:
        """The packaged table with ``path``'s entries on top (``None``: the packaged one).

        The file is JSON (``.json``) or YAML: ``models: {"openai:gpt-4o-mini": {input: 0.15,
        output: 0.6, asOf: 2024-07-18, source: https://...}}``.

        Raises:
            ConfigError: unreadable file, unknown model (not ``provider:model`` with a known
                provider), a missing, non-numeric or negative price, an unknown field.
        """
        table = cls.default()
        if not path:
            return table
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([ConfigProblem(path, f"cannot read the price table: {exc}")]) from exc
        try:
            if path.endswith(".json"):
                document = json.loads(text)
            else:
                import yaml  # only for a YAML price table

                document = yaml.safe_load(text)
        except ValueError as exc:  # JSONDecodeError and yaml.YAMLError's ValueError kin
            raise ConfigError([ConfigProblem(path, f"not valid JSON: {exc}")]) from exc
        except Exception as exc:  # yaml.YAMLError
            raise ConfigError([ConfigProblem(path, f"not valid YAML: {exc}")]) from exc
        table.prices.update(_parse(document, path))
        return table

    def lookup(self, model: str) -> Price | None:
        """The price of ``provider:model``; a dated snapshot (``gpt-4o-mini-2024-07-18``)
        falls back to its undated name."""
        price = self.prices.get(model)
        if price is None and "-20" in model:
            price = self.prices.get(model[: model.rindex("-20")])
        return price

    def price(self, model: str, usage: Usage) -> Usage:
        """``usage`` with its cost: ``None`` (unknown, with a warning once per model) when
        ``model`` has no price or the provider reported no token counts."""
        if usage.calls == 0:
            return usage
        price = self.lookup(model)
        if price is None or usage.tokens == 0:
            why = "no price for this model" if price is None else "the provider reported no usage"
            if model not in self._warned:
                self._warned.add(model)
                logger.warning("cost_unknown", model=model, reason=why)
            return attrs.evolve(usage, cost_usd=None, unpriced=[model])
        return attrs.evolve(
            usage, cost_usd=price.cost(usage.prompt_tokens, usage.completion_tokens)
        )


def _parse(document: Any, where: str) -> dict[str, Price]:
    if not isinstance(document, Mapping) or not isinstance(document.get("models"), Mapping):
        raise ConfigError(
            [ConfigProblem(where, "a price table is an object with a 'models' object")]
        )
    problems: list[ConfigProblem] = []
    prices: dict[str, Price] = {}
    for name, entry in document["models"].items():
        path = f"$.models[{json.dumps(str(name))}]"
        provider, _, model = str(name).partition(":")
        if provider not in PROVIDERS or not model:
            problems.append(
                ConfigProblem(
                    where,
                    f"unknown model {name!r}: expected 'provider:model' with a provider of "
                    + ", ".join(PROVIDERS),
                    path,
                )
            )
            continue
        if not isinstance(entry, Mapping):
            problems.append(ConfigProblem(where, f"{name!r}: expected an object", path))
            continue
        unknown = sorted(set(map(str, entry)) - _FIELDS)
        if unknown:
            problems.append(
                ConfigProblem(
                    where,
                    f"{name!r}: unknown field(s) {', '.join(unknown)}; expected "
                    + ", ".join(sorted(_FIELDS)),
                    path,
                )
            )
            continue
        amounts: list[float] = []
        for side in ("input", "output"):
            value = entry.get(side)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                problems.append(
                    ConfigProblem(
                        where,
                        f"{name!r}: {side} must be a price in USD per million tokens, a number "
                        f">= 0, got {value!r}",
                        f"{path}.{side}",
                    )
                )
            else:
                amounts.append(float(value))
        if len(amounts) == 2:
            as_of, source = entry.get("asOf"), entry.get("source")
            prices[str(name)] = Price(
                amounts[0],
                amounts[1],
                str(as_of) if as_of is not None else None,
                str(source) if source is not None else None,
            )
    if problems:
        raise ConfigError(problems)
    return prices


@attrs.define(repr=False, eq=False)
class Budget(Record):
    """A run's spending limit in USD.

    :meth:`allows` is asked before each model call: it refuses when what was spent plus the
    dearest call seen so far would exceed the limit, so the run stops before overspending
    rather than after. ``reason`` says why it stopped.
    """

    limit: float
    spent: float = 0.0
    dearest: float = 0.0
    reason: str | None = None

    def allows(self) -> bool:
        if self.reason is None and self.spent + self.dearest > self.limit:
            self.reason = (
                f"budget: ${self.spent:.4f} spent; the next model call (up to "
                f"${self.dearest:.4f}) would exceed --max-cost ${self.limit:.4f}"
            )
        return self.reason is None

    def charge(self, usage: Usage) -> None:
        if usage.cost_usd is None:
            return
        self.spent += usage.cost_usd
        self.dearest = max(self.dearest, usage.cost_usd)
        if self.reason is None and self.spent > self.limit:
            self.reason = f"budget: ${self.spent:.4f} spent exceeds --max-cost ${self.limit:.4f}"


def format_cost(usage: Usage) -> str:
    """``$0.0123``, or ``unknown (no price for openai:x)``: never a 0 that is not known."""
    if usage.cost_usd is None:
        return f"unknown (no price for {', '.join(usage.unpriced) or 'a model'})"
    return f"${usage.cost_usd:.4f}"
