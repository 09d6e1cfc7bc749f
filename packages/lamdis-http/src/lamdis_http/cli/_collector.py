"""Python's garbage collector, paused while ``lamdis run`` starts.

:func:`lamdis_http.cli.program` pauses it; the run command calls :func:`start_up_done` when
its tests start. Its own module, so the program and the command share it without importing
each other.
"""

from __future__ import annotations

_collector_paused = False


def pause_collector() -> None:
    """Pause the collector, unless something else already turned it off."""
    global _collector_paused
    import gc

    if gc.isenabled():
        gc.disable()
        _collector_paused = True


def start_up_done() -> None:
    """A command's start-up is over (modules imported, configuration loaded): the collector
    :func:`pause_collector` paused runs again, leaving what start-up made out of its
    collections (``gc.freeze``: it stays for the whole command). Does nothing when the
    collector was not paused here (an embedder calling ``lamdis_http.cli.main``)."""
    global _collector_paused
    if not _collector_paused:
        return
    import gc

    _collector_paused = False
    gc.freeze()
    gc.enable()
