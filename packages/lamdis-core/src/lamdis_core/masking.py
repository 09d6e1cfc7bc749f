"""Masks secrets in what a run records: replies, request-step results, errors, logs.

An assistant (or an API a request step calls) may echo a credential back — verbatim, in
another case, or encoded. Everything lamdis writes (console, JSON, JUnit and Markdown
reports, stored runs) comes from the run's items, so the engine masks each item once, as it
finishes, with one :class:`SecretMasker` per run.

A secret is matched case-insensitively, and so are its common encodings: base64 (standard and
URL-safe, with or without padding, of the value as given and in lower and upper case) and
URL encoding. Values shorter than :data:`MIN_SECRET_LENGTH` are not treated as secrets: they
would mangle ordinary text ("qa", "1") and are not credentials anyway.
"""

from __future__ import annotations

import base64
import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

import attrs

MASK = "***"
MIN_SECRET_LENGTH = 8

# Environment variable names that hold credentials (matched as substrings, any case).
SECRET_NAME_WORDS = (
    "token",
    "secret",
    "password",
    "passwd",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "credential",
    "auth",
    "cookie",
    "session",
    "signature",
)

_SCHEMES = ("bearer ", "basic ", "token ", "bot ")


# Whole parts of a name (``BOT_KEY``, ``x-api-key``, ``GITHUB_PAT``), not substrings: "key"
# inside "MONKEY" or "pat" inside "PATH" say nothing.
SECRET_NAME_PARTS = ("key", "pat", "pwd", "pass", "jwt")


def looks_secret(name: str) -> bool:
    """Whether an environment variable's or a header's name says it holds a credential."""
    lowered = name.lower()
    if any(word in lowered for word in SECRET_NAME_WORDS):
        return True
    return any(part in SECRET_NAME_PARTS for part in re.split(r"[^a-z0-9]+", lowered))


# Query parameter names that carry credentials in URLs people paste into configs and
# webhooks: API keys, SAS/S3 signatures (``sig``, ``X-Amz-Signature``), OAuth codes.
_SECRET_QUERY_NAME = re.compile(
    r"token|secret|key|sig|pass|pwd|auth|credential|session|code|hash", re.IGNORECASE
)
# A long opaque value is a credential more often than not, whatever its name.
_OPAQUE_VALUE = re.compile(r"[A-Za-z0-9_\-.~+/=%]{20,}")


def _redact_pairs(text: str) -> str:
    pairs = []
    for pair in text.split("&"):
        name, sep, value = pair.partition("=")
        secret = _SECRET_QUERY_NAME.search(unquote_plus(name)) or _OPAQUE_VALUE.fullmatch(value)
        pairs.append(f"{name}{sep}{MASK}" if sep and value and secret else pair)
    return "&".join(pairs)


def redact_url(url: str) -> str:
    """The URL as an error message, a log line or an API answer may show it.

    A password in it and every secret-looking query (or ``#fragment``) value become ``***``:
    a value whose name says it is a credential (``token``, ``sig``, ``apiKey``...) or a long
    opaque string (20+ characters of a token alphabet). The scheme, host, path and the other
    values stay exactly as written, so a reader can still tell which endpoint it is. This is
    for URLs written in files: the run's :class:`SecretMasker` also masks the values of
    secrets it knows wherever they appear.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:{MASK}@{host}"
    query = _redact_pairs(parts.query) if parts.query else ""
    fragment = _redact_pairs(parts.fragment) if "=" in parts.fragment else parts.fragment
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def _encodings(value: str) -> set[str]:
    forms: set[str] = set()
    # Case-insensitive matching misses case mappings that change length ("ß" -> "SS").
    for text in {value, value.lower(), value.upper(), value.casefold()}:
        forms.add(text)
        raw = text.encode("utf-8")
        for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
            forms.add(encoded.decode("ascii"))
            forms.add(encoded.decode("ascii").rstrip("="))
        forms.add(quote(text, safe=""))
        forms.add(quote_plus(text, safe=""))
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _plain_word(value: str) -> bool:
    word = value.strip()
    return word.isalpha() and len(word) < 16


class SecretMasker:
    """Replaces known secret values, and their encodings, with ``***``.

    Args:
        values: the secrets (header values such as ``Bearer abc...`` also contribute the
            credential after the scheme).
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._stale = False
        self.add(*values)

    @classmethod
    def from_env(cls, env: Mapping[str, str], extra: Iterable[str] = ()) -> SecretMasker:
        """A masker for the values of ``env``'s credential-named variables, plus ``extra``.

        A variable's value that is one plain word (letters only, under 16 characters:
        ``SESSION_STORE=postgres``, ``AUTH_PROVIDER=internal``) is a setting, not a
        credential; masking it would blank that word in every reply.
        """
        values = [v for k, v in env.items() if looks_secret(k) and not _plain_word(v)]
        return cls([*values, *extra])

    def add(self, *values: str) -> None:
        """Treat more values as secrets (an OAuth token fetched mid-run, say)."""
        for value in values:
            if not isinstance(value, str):
                continue
            stripped = value.strip()
            candidates = [value, stripped]
            lowered = stripped.lower()
            for scheme in _SCHEMES:
                if lowered.startswith(scheme):
                    candidates.append(stripped[len(scheme) :].strip())
            for candidate in candidates:
                if len(candidate) >= MIN_SECRET_LENGTH and candidate not in self._secrets:
                    self._secrets.add(candidate)
                    self._stale = True

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def _compiled(self) -> re.Pattern[str] | None:
        if self._stale:
            forms: set[str] = set()
            for secret in self._secrets:
                forms |= _encodings(secret)
            # Longest first, so a secret is masked whole rather than around a shorter one.
            ordered = sorted(forms, key=len, reverse=True)
            self._pattern = (
                re.compile("|".join(re.escape(f) for f in ordered), re.IGNORECASE)
                if ordered
                else None
            )
            self._stale = False
        return self._pattern

    def mask(self, text: str) -> str:
        """``text`` with every secret, in any case or encoding, replaced by ``***``."""
        pattern = self._compiled()
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def mask_value(self, value: Any) -> Any:
        """Masks every string inside ``value`` (attrs objects, dicts, lists, tuples).

        attrs objects and dicts are changed in place and returned; other containers are
        rebuilt. Dict keys are masked too (a header named after its value is rare, but a
        JSON object keyed by a token is not).
        """
        if self._compiled() is None:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, enum.Enum):  # a StrEnum status is a str, but never a secret
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            masked = {self._walk(k): self._walk(v) for k, v in value.items()}
            value.clear()
            value.update(masked)
            return value
        if isinstance(value, list):
            value[:] = [self._walk(v) for v in value]
            return value
        if type(value) is tuple:
            return tuple(self._walk(v) for v in value)
        if attrs.has(type(value)):
            for field in attrs.fields(type(value)):
                current = getattr(value, field.name)
                masked = self._walk(current)
                if masked is not current:
                    object.__setattr__(value, field.name, masked)
            return value
        return value
