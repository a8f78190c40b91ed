"""Process tuning: how the shell sets Python's cyclic garbage collector. Only the shell does
(the projections, the log and the simulator change no process-wide state): it hands
``paused_collector`` to what makes many objects (``Projector(pause=...)``, the simulator)
and wraps the replays it runs in it.

Events, records and folds hold no reference cycles, and the collector's repeated passes
over them took about half of a replay's time (measured); the projections hold millions of
long-lived objects that its automatic full collections walk again and again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_collector() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while millions of small objects are made,
    and move what is still alive at the end out of its sight (``gc.freeze``).

    Its first pass after the pause walked everything made during it (another 2 µs an
    event). Frozen objects are still freed when nothing refers to them; only cyclic garbage
    made during a pause is never collected, and these paths make none. Used by every path
    that makes many: the projector's refolds and re-tallies (however few: a live service's
    batch of 1,000 events spent 12% of its time in the collector's passes, measured), the
    embedded service's decoding and applying of a batch, replay from a log or a file, the
    simulator. Freezing is cheap (it moves lists).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def settle_collector() -> None:
    """Collect everything, then move the survivors out of the cyclic collector's sight.

    The projections hold millions of long-lived objects without reference cycles. Python's
    automatic full collections walk them all and stalled requests for up to a second (p99 of
    a 100-event POST made visible: 920 ms with them, 60 ms without, over a Kent-sized log).
    So ``serve`` turns automatic full collections off and the timer runs this every 10
    minutes instead: cyclic garbage is still freed, and each pass sees only what is new.
    """
    gc.collect()
    gc.freeze()


def timed_full_collections() -> None:
    """``settle_collector`` once the projections are loaded, and no automatic full
    collections from then on: the timer's ``tick`` runs one every 10 minutes."""
    settle_collector()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 10**9)


def bulk_collection(reading: bool) -> None:
    """Bulk reading allocates millions of long-lived objects and almost no cyclic garbage:
    while it lasts, the cyclic garbage collector is paused (what exists is frozen first), and
    it resumes when no partition is read in bulk any more (the Kafka worker is given this)."""
    if reading and gc.isenabled():
        gc.freeze()
        gc.disable()
    elif not reading and not gc.isenabled():
        gc.unfreeze()
        gc.enable()
