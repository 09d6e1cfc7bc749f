"""Hypothesis strategies for configuration objects (needs ``hypothesis``, a test dependency).

Every strategy yields objects that are *valid* as the loader sees them (thresholds in [0, 1],
``minTurns <= maxTurns``, compilable regexes, a test that has something to send), so they can
feed round-trip tests through both the converter and the loader's checks::

    @given(case_files())
    def test_round_trip(tf): ...

``json_values()`` yields arbitrary JSON for never-crash tests.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import strategies as st

from lamdis_core.domain import config as c

__all__ = [
    "assistants",
    "auth_configs",
    "case_files",
    "cases",
    "identifiers",
    "json_values",
    "personas",
    "request_defs",
    "steps",
    "suites",
]

_SCOPES: Any = st.sampled_from(["last", "transcript"])
_SEVERITIES: Any = st.sampled_from(["error", "warn", "info"])


def identifiers() -> st.SearchStrategy[str]:
    """Ids as teams write them: ``finra-suitability.p1_basic``."""
    return st.builds(
        lambda head, tail: head + tail,
        st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.-", max_size=12),
    )


def _text() -> st.SearchStrategy[str]:
    return st.text(max_size=30)


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Any JSON value (no NaN or infinities, which JSON cannot carry)."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**53), max_value=2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def _json_objects() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(identifiers(), json_values(max_leaves=5), max_size=3)


def _opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def _headers() -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(identifiers(), _text(), max_size=3)


def _thresholds() -> st.SearchStrategy[float]:
    return st.floats(min_value=0, max_value=1, allow_nan=False)


def _regexes() -> st.SearchStrategy[str]:
    # Escaped arbitrary text always compiles; the samples cover real regex syntax.
    return st.sampled_from([r"\d+", r"risk|loss", r"^hello", "(?:ab)+c?"]) | _text().map(re.escape)


def _assistant_envs() -> st.SearchStrategy[c.AssistantEnv]:
    return st.builds(
        c.AssistantEnv,
        channel=st.sampled_from(["http_chat", "openai_chat", "bedrock_chat"]),
        base_url=st.sampled_from(["http://127.0.0.1:8080", "https://bot.example.com"]),
        path=_opt(st.sampled_from(["/chat", "/v1/chat"])),
        headers=_headers(),
        timeout_ms=st.integers(min_value=1, max_value=120_000),
        model=_opt(_text()),
        system_prompt=_opt(_text()),
        temperature=_opt(st.floats(min_value=0, max_value=2, allow_nan=False)),
    )


def assistants() -> st.SearchStrategy[c.Assistant]:
    """Assistant files."""
    return st.builds(
        c.Assistant,
        id=identifiers(),
        name=_opt(_text()),
        env=_assistant_envs(),
        auth_ref=_opt(identifiers()),
        auth=_opt(st.builds(c.AuthRef, auth_ref=identifiers())),
        path=_opt(st.just("/chat")),
        reply_path=_opt(st.sampled_from(["reply", "data.text"])),
    )


def auth_configs() -> st.SearchStrategy[c.AuthConfig]:
    """The three auth forms."""
    static = st.builds(c.StaticAuth, id=identifiers(), headers=_headers())
    pattern = st.builds(
        c.PatternAuth,
        id=identifiers(),
        env=st.dictionaries(identifiers().map(str.upper), _text(), max_size=3),
        pattern=st.builds(
            c.AuthPattern, type=st.just("bearer"), header=st.just("Authorization"), template=_text()
        ),
    )
    oauth = st.builds(
        c.OAuthClientCredentials,
        id=identifiers(),
        client_id=_text(),
        client_secret=_text(),
        token_url=st.just("http://127.0.0.1:9/token"),
        scopes=st.lists(identifiers(), max_size=3),
        audience=_opt(_text()),
        cache_ttl_seconds=_opt(st.integers(min_value=1, max_value=86_400)),
        apply=st.builds(c.AuthApply),
    )
    return static | pattern | oauth


def request_defs() -> st.SearchStrategy[c.RequestDef]:
    """Entries of a requests file."""
    http = st.builds(
        c.HttpSpec,
        method=st.sampled_from(["GET", "POST", "PATCH", "DELETE"]),
        base_url=_opt(st.just("https://api.example.com")),
        path=_opt(st.sampled_from(["/accounts", "/accounts/{id}"])),
        full_url=_opt(st.just("https://api.example.com/x")),
        headers=_headers(),
        body=json_values(max_leaves=5),
        timeout_ms=st.integers(min_value=1, max_value=60_000),
    )
    return st.builds(
        c.RequestDef,
        id=identifiers(),
        title=_opt(_text()),
        auth=_opt(st.builds(c.AuthRef, auth_ref=identifiers())),
        auth_ref=_opt(identifiers()),
        transport=st.builds(
            c.Transport, mode=st.just("direct"), authority=_opt(_text()), http=http
        ),
    )


def personas() -> st.SearchStrategy[c.Persona]:
    return st.builds(c.Persona, id=identifiers(), description=_text(), user_profile=_json_objects())


def steps() -> st.SearchStrategy[c.Step]:
    """One step of any type."""
    common: dict[str, Any] = {"id": _opt(identifiers())}
    checks: dict[str, Any] = {**common, "severity": _SEVERITIES, "name": _opt(_text())}
    return st.one_of(
        st.builds(
            c.MessageStep,
            **common,
            role=st.sampled_from(["user", "system"]),
            content=_text(),
            persona_id=_opt(identifiers()),
        ),
        st.builds(
            c.RequestStep,
            **common,
            request_id=identifiers(),
            input=_opt(_json_objects()),
            input_mappings=_opt(_json_objects()),
            assign=_opt(identifiers()),
            save_as=_opt(identifiers()),
        ),
        st.builds(
            c.AssistantCheckStep,
            **checks,
            # the loader refuses a judge check whose rubric is blank
            rubric=_text().filter(str.strip),
            threshold=_thresholds(),
            scope=_SCOPES,
        ),
        st.builds(
            c.IncludesStep,
            **checks,
            includes=st.lists(_text(), min_size=1, max_size=3),
            scope=_SCOPES,
        ),
        st.builds(
            c.NotIncludesStep,
            **checks,
            terms=st.lists(_text(), min_size=1, max_size=3),
            scope=_SCOPES,
        ),
        st.builds(
            c.RegexStep,
            **checks,
            pattern=_regexes(),
            flags=st.sampled_from(["", "i", "ims"]),
            negate=st.booleans(),
            scope=_SCOPES,
        ),
        st.builds(
            c.JsonPathStep,
            **checks,
            source=st.sampled_from(["last.request", "var.acct"]),
            path=st.sampled_from(["$.id", "items[0].name", "status"]),
            # ``None`` would read back as "not given": the converter omits nulls.
            equals=st.just(c.UNSET) | json_values(max_leaves=3).filter(lambda v: v is not None),
            matches=_opt(_regexes()),
            exists=_opt(st.booleans()),
        ),
        st.builds(
            c.LatencyStep,
            **checks,
            max_ms=st.floats(min_value=1, max_value=1e6, allow_nan=False),
            scope=_SCOPES,
        ),
        st.builds(
            c.ExtractStep, **common, variable_name=identifiers(), description=_text(), scope=_SCOPES
        ),
    )


@st.composite
def cases(draw: st.DrawFn) -> c.TestCase:
    """Tests with steps, a script or an objective (at least one: a test must send something)."""
    step_list = draw(st.lists(steps(), max_size=4))
    messages = draw(
        st.lists(
            st.builds(
                c.ScriptMessage,
                role=st.just("user"),
                content=_text(),
                persona_id=_opt(identifiers()),
            ),
            max_size=3,
        )
    )
    objective = draw(_opt(_text()))
    if not step_list and not messages and not objective:
        objective = "help the user"
    # A script longer than maxTurns loads, with a warning; these objects load warning-free.
    max_turns = draw(st.integers(min_value=max(1, len(messages)), max_value=20))
    return c.TestCase(
        id=draw(identifiers()),
        name=draw(_opt(_text())),
        tags=draw(st.lists(identifiers(), max_size=3)),
        enabled=draw(st.booleans()),
        persona_id=draw(_opt(identifiers())),
        objective=objective,
        script=c.Script(messages=messages),
        steps=step_list,
        max_turns=max_turns,
        min_turns=draw(st.integers(min_value=1, max_value=max_turns)),
        iterate=draw(st.booleans()),
        continue_after_pass=draw(st.booleans()),
        judge_config=draw(
            _opt(st.builds(c.JudgeConfig, rubric=_opt(_text()), threshold=_thresholds()))
        ),
    )


def _unique_tests(min_size: int = 0) -> st.SearchStrategy[list[c.TestCase]]:
    return st.lists(cases(), min_size=min_size, max_size=3, unique_by=lambda t: t.id)


def case_files() -> st.SearchStrategy[c.TestFile]:
    """Test files (test ids unique within the file)."""
    return st.builds(
        c.TestFile,
        id=_opt(identifiers()),
        name=_opt(_text()),
        imports=st.builds(
            c.Imports,
            personas=st.lists(identifiers(), max_size=2),
            requests=st.lists(identifiers(), max_size=2),
        ),
        assistant_ref=_opt(identifiers()),
        env=_opt(_assistant_envs()),
        tests=_unique_tests(min_size=1),
    )


def suites() -> st.SearchStrategy[c.Suite]:
    """Suites naming files and ids, or holding inline tests."""
    listed = st.builds(
        c.SuiteTests,
        include_files=st.lists(identifiers(), max_size=3),
        include_ids=st.lists(identifiers(), max_size=3),
    )
    return st.builds(
        c.Suite,
        id=identifiers(),
        description=_opt(_text()),
        assistants=st.builds(
            c.SuiteAssistants,
            include=st.lists(identifiers(), max_size=3),
            include_folders=st.lists(identifiers(), max_size=2),
            exclude=st.lists(identifiers(), max_size=2),
        ),
        tests=listed | _unique_tests(min_size=1),
        imports=st.builds(c.Imports, personas=st.lists(identifiers(), max_size=2)),
    )
