"""Which environment variables catalog documents may read, and where their values may go.

Files run by ``lamdis run`` are written by whoever runs them, so ``${NAME}`` reads any
variable. Catalog documents (posted to the hosted API, or imported into a shared catalog) are
written by anyone holding an API token and run inside the server's process, whose environment
holds the database URL, the API token and the judge's keys. A catalog run therefore reads the
environment through a :class:`RestrictedEnv`: only names the operator exposes, never the
server's own settings, and each secret only towards the hosts the operator bound it to.

The operator's settings:

- ``LAMDIS_CATALOG_VARS=NAME1,NAME2``: plain values catalog documents may read (a base URL, a
  tenant id). They may be sent to any host.
- ``LAMDIS_CATALOG_VAR_PREFIX=PREFIX``: every variable whose name starts with ``PREFIX`` is
  exposed likewise.
- ``LAMDIS_SECRET_HOSTS=NAME=host1,host2;NAME2=*.example.com``: secrets catalog documents may
  read; each value is sent only to its hosts (``*.example.com`` matches any subdomain).

All three are empty by default: then a catalog document can read no variable at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

import attrs

from lamdis_core.domain.base import Value
from lamdis_core.domain.errors import ConfigError, ConfigProblem

CATALOG_VARS = "LAMDIS_CATALOG_VARS"
CATALOG_VAR_PREFIX = "LAMDIS_CATALOG_VAR_PREFIX"
SECRET_HOSTS = "LAMDIS_SECRET_HOSTS"

SERVER_SETTINGS = frozenset(
    {
        "DATABASE_URL",
        "MONGO_URL",
        "LAMDIS_API_TOKEN",
        "LAMDIS_HMAC_SECRET",
        "OPENAI_API_KEY",
    }
)
"""The server's own credentials: never readable by a catalog document, even if listed."""

SERVER_SETTING_PREFIXES = ("AWS_",)
"""AWS credentials and profile settings (``AWS_SECRET_ACCESS_KEY``...): never readable."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOST = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.\-]*[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]+\]$")


def is_server_setting(name: str) -> bool:
    """Whether ``name`` is one of the server's own credentials."""
    return name in SERVER_SETTINGS or name.startswith(SERVER_SETTING_PREFIXES)


def url_host(url: str) -> str:
    """The host of ``url``, lower case, without port or brackets (``""`` when none)."""
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


@attrs.frozen(kw_only=True, repr=False, eq=False)
class EnvPolicy(Value):
    """What a catalog run may read from the environment, and where a secret may go.

    Attributes:
        names: plain variables exposed by name.
        prefix: plain variables exposed by prefix (``None``: none).
        secret_hosts: secret variables and the host patterns each may be sent to.
    """

    names: frozenset[str] = frozenset()
    prefix: str | None = None
    secret_hosts: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EnvPolicy:
        """Read the operator's three settings.

        Raises:
            ConfigError: a setting is malformed, or names a server credential.
        """
        problems: list[ConfigProblem] = []

        def problem(var: str, message: str) -> None:
            problems.append(ConfigProblem(f"environment variable {var}", message))

        names: set[str] = set()
        for raw in env.get(CATALOG_VARS, "").split(","):
            name = raw.strip()
            if not name:
                continue
            if not _NAME.match(name):
                problem(CATALOG_VARS, f"{name!r} is not a variable name")
            elif is_server_setting(name):
                problem(CATALOG_VARS, _never_exposed(name))
            else:
                names.add(name)
        prefix = env.get(CATALOG_VAR_PREFIX, "").strip() or None
        if prefix is not None and (not _NAME.match(prefix) or len(prefix) < 3):
            problem(
                CATALOG_VAR_PREFIX,
                f"expected a name prefix of at least 3 characters (e.g. LAMDIS_VAR_), "
                f"got {prefix!r}",
            )
            prefix = None
        secret_hosts: dict[str, tuple[str, ...]] = {}
        for raw_entry in env.get(SECRET_HOSTS, "").split(";"):
            entry = raw_entry.strip()
            if not entry:
                continue
            name, eq, hosts_text = (part.strip() for part in entry.partition("="))
            hosts = tuple(h.strip().lower() for h in hosts_text.split(",") if h.strip())
            if not eq or not _NAME.match(name) or not hosts:
                problem(
                    SECRET_HOSTS,
                    f"expected NAME=host1,host2 entries separated by ';', got {entry!r}",
                )
                continue
            if is_server_setting(name):
                problem(SECRET_HOSTS, _never_exposed(name))
                continue
            bad = [h for h in hosts if not _HOST.match(h)]
            if bad:
                problem(
                    SECRET_HOSTS, f"{name}: {', '.join(bad)} is not a host name (no scheme or path)"
                )
                continue
            secret_hosts[name] = hosts
        if problems:
            raise ConfigError(problems)
        return cls(names=frozenset(names), prefix=prefix, secret_hosts=secret_hosts)

    def refusal(self, name: str) -> str | None:
        """Why a catalog document may not read ``name`` (``None``: it may)."""
        if is_server_setting(name):
            return _never_exposed(name)
        if name in self.names or name in self.secret_hosts:
            return None
        if self.prefix is not None and name.startswith(self.prefix):
            return None
        return (
            f"environment variable {name} is not exposed to catalog documents; the operator "
            f"exposes variables with {CATALOG_VARS}, {CATALOG_VAR_PREFIX} or {SECRET_HOSTS}"
        )

    def host_allowed(self, name: str, host: str) -> bool:
        """Whether the secret ``name`` may be sent to ``host`` (any host if it is not bound)."""
        hosts = self.secret_hosts.get(name)
        return hosts is None or any(_host_matches(host, pattern) for pattern in hosts)

    def destination_refusal(self, env: Mapping[str, str], url: str, texts: list[str]) -> str | None:
        """Why a request to ``url`` carrying ``texts`` may not be sent (``None``: it may).

        Every secret whose value appears in ``texts`` (or in ``url`` itself) must be bound to
        the URL's host.
        """
        host = url_host(url)
        for name, hosts in self.secret_hosts.items():
            value = env.get(name, "")
            if not value or not (value in url or any(value in text for text in texts)):
                continue
            if not self.host_allowed(name, host):
                return (
                    f"environment variable {name} may be sent only to {', '.join(hosts)} "
                    f"({SECRET_HOSTS}); this request goes to host {host or url!r}: not sent"
                )
        return None

    def view(self, env: Mapping[str, str]) -> RestrictedEnv:
        """``env`` as catalog documents see it."""
        return RestrictedEnv(env, self)


def _never_exposed(name: str) -> str:
    return (
        f"environment variable {name} is one of the server's own settings and is never "
        "exposed to catalog documents"
    )


class RestrictedEnv(Mapping[str, str]):
    """The environment seen through an :class:`EnvPolicy`: names it refuses are absent.

    Interpolation asks :meth:`refusal` first, so a refused ``${NAME}`` is an error naming the
    variable and the policy, never "not set".
    """

    def __init__(self, env: Mapping[str, str], policy: EnvPolicy) -> None:
        self._env = env
        self.policy = policy

    def refusal(self, name: str) -> str | None:
        return self.policy.refusal(name)

    def __getitem__(self, name: str) -> str:
        if self.policy.refusal(name) is not None:
            raise KeyError(name)
        return self._env[name]

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._env if self.policy.refusal(name) is None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.policy.refusal(name) is None and name in self._env
