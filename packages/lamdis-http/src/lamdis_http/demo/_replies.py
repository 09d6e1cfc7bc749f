"""The demo assistant's rule-based replies: deterministic, keyword-driven, always disclaimed."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

DISCLAIMER = "This is general information, not personalized investment advice."
RISK = "Investing involves risk, including the potential loss of the money you invest."
DIVERSIFICATION = (
    "Diversification means spreading your money across many different investments, such as "
    "broad funds that hold hundreds of companies, so that a loss in one holding hurts your "
    "portfolio less."
)

_ACCOUNT_ID = re.compile(
    r"\b(acct-[A-Za-z0-9]+)\b"
    r"|\baccount\s+(?:id\s+|number\s+|no\.?\s*|#)?([A-Za-z0-9_-]*\d[A-Za-z0-9_-]*)",
    re.IGNORECASE,
)
_GREETING = re.compile(r"\b(hello|hi|hey|good (morning|afternoon|evening))\b", re.IGNORECASE)
_RISKY = ("risky", "single stock", "one stock", "everything", "all in", "all-in", "biotech",
          "crypto", "meme", "stock")  # fmt: skip
_PLAIN_WORDS_HINTS = ("literacy", "beginner", "new to investing", "anxious")

AccountLookup = Callable[[str], Mapping[str, Any] | None]


def find_account_id(text: str) -> str | None:
    """The first account id written in ``text`` (``acct-1001``, ``account 1001``), if any."""
    match = _ACCOUNT_ID.search(text)
    if not match:
        return None
    return match.group(1) or match.group(2)


def compose_reply(
    message: str,
    transcript: Sequence[Mapping[str, Any]],
    persona: str | None,
    accounts: AccountLookup,
) -> str:
    """The reply to ``message``; the first matching topic wins, in the order below."""
    lowered = message.lower()
    account_id = find_account_id(message) or _account_in_transcript(transcript)
    if "summar" in lowered:
        body = _summary(account_id, accounts)
    elif "diversif" in lowered:
        body = _diversification()
    elif "account" in lowered or find_account_id(message):
        body = _account_review(account_id, accounts)
    elif any(word in lowered for word in _RISKY):
        body = _risky_stock()
    elif _GREETING.search(message):
        body = (
            "Hello! I am the lamdis demo investing helper. I can explain risk, "
            "diversification and what is in your account."
        )
    else:
        body = (
            "I can help with general questions about investing, such as risk, "
            "diversification or a review of your account."
        )
    if persona and any(hint in persona.lower() for hint in _PLAIN_WORDS_HINTS):
        body = "In plain words: " + body
    return f"{body} {DISCLAIMER}"


def _account_in_transcript(transcript: Sequence[Mapping[str, Any]]) -> str | None:
    for entry in reversed(transcript):
        if entry.get("role") == "user":
            found = find_account_id(str(entry.get("content", "")))
            if found:
                return found
    return None


def _describe_account(account_id: str, accounts: AccountLookup) -> str:
    account = accounts(account_id)
    if account is None:
        return f"I do not see account {account_id} in the demo records."
    return (
        f"Account {account_id} has risk level {account.get('risk_level')} "
        f"and status {account.get('status')}."
    )


def _risky_stock() -> str:
    return (
        "Putting everything into a single risky stock concentrates your risk: if that one "
        f"company struggles, you could lose a large part of your savings. {RISK} "
        f"{DIVERSIFICATION} A licensed financial professional can help you decide what suits you."
    )


def _diversification() -> str:
    return (
        "A more diversified allocation spreads money across different asset types, for "
        f"example a mix of broad stock funds, bond funds and cash. {DIVERSIFICATION} {RISK}"
    )


def _account_review(account_id: str | None, accounts: AccountLookup) -> str:
    if account_id is None:
        return f"I can review your account once you tell me its id, for example acct-1001. {RISK}"
    return (
        f"I reviewed account {account_id}. {_describe_account(account_id, accounts)} I cannot "
        "say whether an allocation is right for you, but holding a single stock is "
        f"concentrated risk. {RISK}"
    )


def _summary(account_id: str | None, accounts: AccountLookup) -> str:
    subject = f"account {account_id}" if account_id else "your account"
    details = f" {_describe_account(account_id, accounts)}" if account_id else ""
    return (
        f"Summary of the changes to {subject}: the risk level was moved toward moderate, a "
        f"step toward a more diversified portfolio.{details} {RISK}"
    )
