"""``python -m lamdis_http.cli`` is the ``lamdis`` command."""

from lamdis_http.cli import program

program()
