"""The user documentation stands alone and keeps up with the model.

The READMEs and docs/ cite nothing outside the repository, their relative links resolve
(anchors included), and the reference pages name every field of the config and result models:
a field added to the model without a line in docs/ fails here, naming the page to extend.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest
from lamdis_core.domain import config as c
from lamdis_core.domain import results as r
from lamdis_core.domain.convert import camel

REPO = Path(__file__).resolve().parents[2]
USER_DOCS = sorted(
    [
        REPO / "README.md",
        *(REPO / "docs").glob("*.md"),
        *(REPO / "packages").glob("*/README.md"),
        *(REPO / "examples").glob("**/README.md"),
    ]
)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {
        _slug(line.lstrip("#"))
        for line in page.read_text().splitlines()
        if line.startswith("#") and not line.startswith("#!")
    }


@pytest.mark.parametrize("page", USER_DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_user_docs_cite_nothing_outside_the_repository(page: Path) -> None:
    text = page.read_text()
    for outside in ("DESIGN §", "DESIGN.md", "../shared", "/work/", "README.hosted.md"):
        assert outside not in text, f"{page.relative_to(REPO)} cites {outside!r}"


@pytest.mark.parametrize("page", USER_DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page: Path) -> None:
    for target in _LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue  # an absolute URL
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        assert linked.exists(), f"{page.relative_to(REPO)} links to missing {target}"
        assert REPO in linked.parents or linked == REPO, f"{target} leaves the repository"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{page.relative_to(REPO)}: no #{anchor} in {target}"


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else None]


def _keys(cls: type) -> list[str]:
    return [camel(f.name) for f in attrs.fields(cls)]


FORMATS = REPO / "docs" / "formats.md"


def test_every_test_level_field_is_in_the_reference_table() -> None:
    table = _section(FORMATS.read_text(), "### Test-level fields")
    missing = [k for k in _keys(c.TestCase) if f"| `{k}` |" not in table]
    assert not missing, f"docs/formats.md 'Test-level fields' lacks rows for {missing}"


@pytest.mark.parametrize(
    "cls",
    [
        c.Assistant,
        c.AssistantEnv,
        c.StaticAuth,
        c.PatternAuth,
        c.AuthPattern,
        c.OAuthClientCredentials,
        c.AuthApply,
        c.TestFile,
        c.Imports,
        c.Script,
        c.ScriptMessage,
        c.JudgeConfig,
        c.PersonasFile,
        c.Persona,
        c.RequestsFile,
        c.RequestDef,
        c.Transport,
        c.HttpSpec,
        c.Suite,
        c.SuiteAssistants,
        c.SuiteTests,
        *c.STEP_TYPES.values(),
    ],
    ids=lambda cls: cls.__name__,
)
def test_every_config_field_is_documented(cls: type) -> None:
    text = FORMATS.read_text()
    missing = [k for k in _keys(cls) if not re.search(rf"\b{re.escape(k)}\b", text)]
    assert not missing, f"docs/formats.md does not mention {cls.__name__} fields {missing}"


def test_every_step_type_is_in_the_steps_table() -> None:
    table = _section(FORMATS.read_text(), "### Steps")
    missing = [t for t in c.STEP_TYPES if f"| `{t}` |" not in table]
    assert not missing, f"docs/formats.md 'Steps' lacks rows for {missing}"


@pytest.mark.parametrize("cls", [r.Run, r.Item, r.Check, r.Totals, r.JudgeSummary])
def test_every_result_field_is_documented(cls: type) -> None:
    text = (REPO / "docs" / "results.md").read_text()
    missing = [k for k in _keys(cls) if not re.search(rf"\b{re.escape(k)}\b", text)]
    assert not missing, f"docs/results.md does not mention {cls.__name__} fields {missing}"


def test_both_placeholder_syntaxes_are_documented() -> None:
    section = _section(FORMATS.read_text(), "## Placeholders")
    for form in ("`${NAME}`", "`${var.acct.id}`", "`$var.acct.id`", "`{name}`"):
        assert form in section, form
