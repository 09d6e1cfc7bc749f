"""``lamdis init [DIR]``: scaffold a config tree that validates, with a CI workflow.

Writes an assistant, a test file, a suite, the editor schemas (``.schemas/``, which every
file names on its first line) and a GitHub Actions workflow. With ``--demo`` the assistant
is the bundled demo assistant and the tests pass against it, so ``lamdis run`` works at once.
Existing files are never overwritten (``--force`` does).
"""

from __future__ import annotations

import argparse
from typing import Any

from lamdis_http.cli._common import EXIT_OK, EXIT_USAGE

_ASSISTANT = """\
# yaml-language-server: $schema=../.schemas/assistant.schema.json
# The assistant under test. Each user turn is POST {baseUrl}{path} with
# {message, transcript, persona}; the answer's `reply` field is the reply.
id: bot
name: __NAME__
env:
  channel: http_chat
  baseUrl: "${__URL_VAR__}"
  path: /chat
  timeoutMs: 10000
"""

_TEST_DEMO = """\
# yaml-language-server: $schema=../.schemas/test.schema.json
assistantRef: assistants/bot
tests:
  - id: greets
    steps:
      - {type: message, content: "Hello!"}
      - {type: includes, includes: ["demo investing helper"]}
      - {type: latency, maxMs: 5000}
  - id: explains-diversification
    tags: [smoke]
    steps:
      - {type: message, content: "What does diversification mean?"}
      - {type: includes, includes: ["spreading"]}
      - {type: not_includes, terms: ["guaranteed returns"]}
      - type: assistant_check
        rubric: "Explains diversification as spreading money across investments"
        threshold: 0.6
"""

_TEST = """\
# yaml-language-server: $schema=../.schemas/test.schema.json
# Replace the message and the checks with what your assistant should do.
assistantRef: assistants/bot
tests:
  - id: greets
    tags: [smoke]
    steps:
      - {type: message, content: "Hello!"}
      - {type: not_includes, terms: ["error", "exception"]}
      - {type: latency, maxMs: 5000}
      - {type: assistant_check, rubric: "Greets the user and offers help", threshold: 0.7}
"""

_SUITE = """\
# yaml-language-server: $schema=../.schemas/suite.schema.json
id: smoke
description: The first tests, run by `lamdis run suites/smoke.yaml` and the CI workflow.
assistants:
  include: [assistants/bot]
tests:
  includeFiles: [tests/smoke.yaml]
"""

_WORKFLOW = """\
# Runs the suite on every pull request; JUnit and Markdown reports are uploaded and the
# Markdown summary is shown on the run's page. Expects this folder at the repository root.
name: lamdis
on:
  pull_request:
  push:
    branches: [main]
permissions:
  contents: read
jobs:
  lamdis:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - name: Install lamdis
        run: pip install lamdis-http
      - name: Validate the configs
        run: lamdis validate assistants tests suites
__START_DEMO__      - name: Run the suite
        env:
          __URL_VAR__: __URL_VALUE__
        run: lamdis run suites/smoke.yaml --junit lamdis-junit.xml --markdown lamdis-summary.md
      - name: Job summary
        if: always()
        run: if [ -f lamdis-summary.md ]; then cat lamdis-summary.md >> "$GITHUB_STEP_SUMMARY"; fi
      - name: Upload the reports
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: lamdis-reports
          path: |
            lamdis-junit.xml
            lamdis-summary.md
          if-no-files-found: ignore
"""

_START_DEMO = """\
      - name: Start the demo assistant
        run: |
          lamdis demo-assistant --port 8765 &
          for _ in $(seq 50); do curl -fsS -o /dev/null -X POST -H 'content-type: application/json' \\
            -d '{"message": "hi"}' http://127.0.0.1:8765/chat && break; sleep 0.2; done
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "init",
        help="scaffold a config tree (assistant, test, suite, CI workflow) that validates",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dir", nargs="?", default=".", metavar="DIR", help="default: .")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="target the bundled demo assistant (`lamdis demo-assistant`), with tests that pass",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.set_defaults(handler=handle)


def _fill(template: str, **values: str) -> str:
    # Plain replacement: the templates are full of `${...}` and `{...}` meant literally.
    for key, value in values.items():
        template = template.replace(f"__{key}__", value)
    return template


def files_for(*, demo: bool) -> dict[str, str]:
    """The scaffold's files (relative path -> text), schemas aside."""
    url_var = "LAMDIS_DEMO_URL" if demo else "BOT_URL"
    url_value = "http://127.0.0.1:8765" if demo else "${{ vars.BOT_URL }}"
    name = "Demo investing assistant" if demo else "My assistant"
    return {
        "assistants/bot.yaml": _fill(_ASSISTANT, NAME=name, URL_VAR=url_var),
        "tests/smoke.yaml": _TEST_DEMO if demo else _TEST,
        "suites/smoke.yaml": _SUITE,
        ".github/workflows/lamdis.yml": _fill(
            _WORKFLOW,
            URL_VAR=url_var,
            URL_VALUE=url_value,
            START_DEMO=_START_DEMO if demo else "",
        ),
    }


def handle(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from lamdis_core.config.json_schema import schema_texts

    root = Path(args.dir)
    files = files_for(demo=args.demo)
    schemas = {f".schemas/{name}": text for name, text in schema_texts().items()}
    if not args.force:
        existing = [rel for rel in files if (root / rel).exists()]
        if existing:
            print(
                f"lamdis init: {', '.join(existing)} already exist(s) in {root}; nothing written "
                "(--force overwrites)",
                file=sys.stderr,
            )
            return EXIT_USAGE
    try:
        for rel, text in {**files, **schemas}.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"lamdis init: cannot write into {root}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    for rel in files:
        print(f"wrote {root / rel}")
    print(f"wrote {root / '.schemas'}/ (editor schemas; regenerate with `lamdis schema --out`)")
    if args.demo:
        print(
            "next: `lamdis demo-assistant --port 8765` in another terminal, then\n"
            f"      LAMDIS_DEMO_URL=http://127.0.0.1:8765 lamdis run {root / 'suites/smoke.yaml'}"
        )
    else:
        print(f"next: BOT_URL=https://your-assistant lamdis run {root / 'suites/smoke.yaml'}")
    return EXIT_OK
