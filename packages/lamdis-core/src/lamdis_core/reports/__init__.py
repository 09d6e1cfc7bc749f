"""Report writers: pure functions from a run result to text (JSON, JUnit XML, Markdown).

They do no I/O of their own; the CLI decides where the text goes (``write_json`` writes the
JSON summary item by item to a text stream the caller opened, ``write_junit`` the JUnit
document case by case; :class:`ReportFacts` gathers what every report shares in one pass).
"""

from lamdis_core.reports.facts import ReportFacts
from lamdis_core.reports.json_report import build_summary, render_json, write_json
from lamdis_core.reports.junit import render_junit, write_junit
from lamdis_core.reports.markdown import render_markdown
from lamdis_core.reports.summary import OFFLINE_JUDGE_WARNING, SummaryRow, summary_rows

__all__ = [
    "OFFLINE_JUDGE_WARNING",
    "ReportFacts",
    "SummaryRow",
    "build_summary",
    "render_json",
    "render_junit",
    "render_markdown",
    "summary_rows",
    "write_json",
    "write_junit",
]
