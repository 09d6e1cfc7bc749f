"""lamdis_core.logs: loggers that import structlog on the first logged event, and a program's
logging set-up deferred until then. Each case runs in a fresh interpreter, where structlog is
not imported yet."""

from __future__ import annotations

import json
import subprocess
import sys

PRELUDE = """
import json, sys
from lamdis_core.logs import configure_on_first_use, configure_if_imported, get_logger
calls = []

def configure():
    import structlog
    calls.append("configured")
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
    )

def state(label):
    print(json.dumps([label, "structlog" in sys.modules, calls]))
"""


def _lines(code: str) -> list[object]:
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_structlog_is_imported_and_set_up_when_the_first_event_is_logged() -> None:
    lines = _lines(
        "log = get_logger()\n"
        "configure_on_first_use(configure)\n"
        "state('before')\n"
        "log.warning('first', n=1)\n"
        "state('after')\n"
        "log.info('second')\n"
        "bound = get_logger().bind(k='v')\n"
        "bound.error('third')\n"
    )
    assert lines == [
        ["before", False, []],
        {"n": 1, "event": "first", "level": "warning"},
        ["after", True, ["configured"]],
        {"event": "second", "level": "info"},
        {"k": "v", "event": "third", "level": "error"},
    ]


def test_a_set_up_runs_at_once_when_structlog_is_already_imported() -> None:
    lines = _lines("import structlog\nconfigure_on_first_use(configure)\nstate('now')\n")
    assert lines == [["now", True, ["configured"]]]


def test_a_program_that_configures_structlog_itself_drops_the_deferred_set_up() -> None:
    lines = _lines(
        "configure_on_first_use(configure)\n"
        "configure_on_first_use(None)\n"
        "import structlog\n"
        "structlog.configure(processors=[structlog.processors.JSONRenderer()],\n"
        "    logger_factory=structlog.PrintLoggerFactory(file=sys.stdout))\n"
        "get_logger().info('own', mine=True)\n"
        "state('end')\n"
    )
    assert lines == [{"mine": True, "event": "own"}, ["end", True, []]]


def test_code_that_imported_structlog_itself_gets_the_set_up_when_asked() -> None:
    """The registry calls configure_if_imported after loading an adapter: one that logs
    through structlog directly then logs as the program configured."""
    lines = _lines(
        "configure_on_first_use(configure)\n"
        "configure_if_imported()\n"
        "state('nothing imported')\n"
        "import structlog\n"
        "configure_if_imported()\n"
        "structlog.get_logger().info('adapter')\n"
        "state('end')\n"
    )
    assert lines == [
        ["nothing imported", False, []],
        {"event": "adapter", "level": "info"},
        ["end", True, ["configured"]],
    ]


def test_the_lazy_logger_can_be_copied_and_pickled_before_use() -> None:
    lines = _lines(
        "import copy, pickle\n"
        "log = get_logger()\n"
        "copy.copy(log); pickle.loads(pickle.dumps(log))\n"
        "state('untouched')\n"
    )
    assert lines == [["untouched", False, []]]


def test_a_set_up_that_logs_runs_once_and_other_threads_wait_for_it() -> None:
    """The set-up's own event is logged as set up; a thread logging while the set-up runs
    waits for it rather than printing through structlog's defaults."""
    lines = _lines(
        "import threading, time\n"
        "started = threading.Event()\n"
        "def slow_configure():\n"
        "    started.set()\n"
        "    time.sleep(0.3)\n"
        "    configure()\n"
        "    get_logger().info('from the set-up')\n"
        "configure_on_first_use(slow_configure)\n"
        "main = threading.Thread(target=lambda: get_logger().info('main'))\n"
        "main.start(); started.wait()\n"
        "other = threading.Thread(target=lambda: get_logger().info('other'))\n"
        "other.start(); main.join(); other.join()\n"
        "state('end')\n"
    )
    assert lines[0] == {"event": "from the set-up", "level": "info"}
    # Both threads log once the set-up is done, in either order.
    assert sorted(lines[1:3], key=str) == [
        {"event": "main", "level": "info"},
        {"event": "other", "level": "info"},
    ]
    assert lines[3:] == [["end", True, ["configured"]]]
