"""One ingest pipeline behind one sink (issue 18, item 3), and process tuning only in the
shell (item 6): the projector and the simulator change no process-wide state unless the
shell hands them its ``paused_collector``."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from events import Event, Record, read_event
from projections import Projector
from sendwatch.tuning import paused_collector
from simulation.council import simulate
from streams.ingest import IngestSummary, ingest
from streams.kafka import TopicSink
from streams.log import EventLog, Rejected
from streams.replay import load_projector
from tests.history import jsonl, raw


@dataclass
class Stored:
    accepted: int
    duplicates: int
    conflicts: tuple[tuple[int, Rejected], ...] = ()


@dataclass
class RecordingSink:
    """Keeps what each ``store`` was given; refuses as a conflict any record whose event id
    is in ``conflicting``."""

    conflicting: set[str] = field(default_factory=set)
    batches: list[tuple[list[str], list[int], list[str], int]] = field(default_factory=list)

    def store(
        self,
        records: Sequence[Record],
        rejected: Sequence[Rejected],
        *,
        origin: str,
        lines: Sequence[int],
        events: Sequence[Event],
    ) -> Stored:
        ids = [r["event_id"] for r in records]
        self.batches.append((ids, list(lines), [r.origin for r in rejected], len(events)))
        conflicts = tuple(
            (i, Rejected(f"{origin} line {lines[i]}", "event_id already used", b""))
            for i, event_id in enumerate(ids)
            if event_id in self.conflicting
        )
        return Stored(len(records) - len(conflicts), 0, conflicts)


def five_lines() -> list[bytes]:
    # line 1 valid (e1), line 2 not JSON, line 3 blank (skipped, never rejected),
    # lines 4 and 5 valid (e2, e3)
    valid = jsonl(
        [
            raw("plan.issued", "C1", "2025-01-06", eid="e1"),
            raw("plan.issued", "C2", "2025-01-07", eid="e2"),
            raw("plan.issued", "C3", "2025-01-08", eid="e3"),
        ]
    ).splitlines(keepends=True)
    return [valid[0], b"not json\n", b"\n", valid[1], valid[2]]


def test_input_is_stored_a_batch_at_a_time_and_each_batch_acknowledged() -> None:
    # batch=2 counts records and rejections: lines 1 and 2 make the first batch, lines 4
    # and 5 the second; the end of the input stores what is left (nothing), as ever
    sink = RecordingSink()
    acknowledged: list[int] = []

    def on_commit(summary: IngestSummary) -> None:
        acknowledged.append(summary.lines)

    summary = ingest(five_lines(), sink, origin="f.jsonl", batch=2, on_commit=on_commit)
    assert sink.batches == [
        (["e1"], [1], ["f.jsonl line 2"], 0),
        (["e2", "e3"], [4, 5], [], 0),
        ([], [], [], 0),
    ]
    assert acknowledged == [2, 5, 5]
    assert (summary.accepted, summary.duplicates, summary.rejected) == (3, 0, 1)
    assert summary.refused == []  # listed only when asked for


def test_a_post_is_one_batch_with_its_events_and_every_refusal_by_line() -> None:
    # e2 (line 4) is refused by the sink as a conflict: listed with its line, after line
    # 2's rejection, as a POST answers
    sink = RecordingSink(conflicting={"e2"})
    summary = ingest(five_lines(), sink, origin="POST", batch=None, events=True, refusals=True)
    assert sink.batches == [(["e1", "e2", "e3"], [1, 4, 5], ["POST line 2"], 3)]
    assert [line for line, _ in summary.refused] == [2, 4]
    assert summary.refused[1][1] == "event_id already used"
    assert (summary.accepted, summary.rejected) == (2, 2)


def test_the_log_is_a_sink(tmp_path: Path) -> None:
    with EventLog(tmp_path / "log.db") as log:
        first = ingest(five_lines(), log, origin="f.jsonl", batch=2)
        again = ingest(five_lines(), log, origin="f.jsonl", batch=2)
        assert (first.accepted, first.duplicates, first.rejected) == (3, 0, 1)
        assert (again.accepted, again.duplicates, again.rejected) == (0, 3, 1)
        assert log.count() == 3 and log.dead_letter_count() == 2


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.dead_letters: list[str] = []
        self.flushes = 0

    def send_record(self, record: dict[str, Any]) -> None:
        self.sent.append(record["event_id"])

    def send_dead_letter(self, rejected: Rejected, key: bytes | None = None) -> None:
        self.dead_letters.append(rejected.origin)

    def flush(self) -> None:
        self.flushes += 1


def test_the_kafka_producer_is_a_sink_counting_repeats_across_batches() -> None:
    # batch=3: lines 1, 2 and 4 make the first batch; e1 again on line 6, in the second:
    # not produced twice
    producer = FakeProducer()
    lines = [*five_lines(), jsonl([raw("plan.issued", "C1", "2025-01-06", eid="e1")])]
    summary = ingest(lines, TopicSink(producer), origin="f.jsonl", batch=3)  # type: ignore[arg-type]
    assert producer.sent == ["e1", "e2", "e3"]
    assert producer.dead_letters == ["f.jsonl line 2"]
    assert producer.flushes == 2  # each batch acknowledged: lines 1 to 4, then 5 and 6
    assert (summary.accepted, summary.duplicates, summary.rejected) == (3, 1, 1)


@contextmanager
def collector_calls() -> Iterator[list[str]]:
    """The calls this thread makes that change the garbage collector's state (other threads'
    are not counted: a service left running by another test may collect meanwhile)."""
    calls: list[str] = []
    me = threading.get_ident()
    names = ("disable", "enable", "freeze", "unfreeze", "collect", "set_threshold")
    originals = {name: getattr(gc, name) for name in names}

    def watched(name: str) -> Any:
        def call(*args: Any) -> Any:
            if threading.get_ident() == me:
                calls.append(name)
            return originals[name](*args)

        return call

    try:
        for name in names:
            setattr(gc, name, watched(name))
        yield calls
    finally:
        for name, original in originals.items():
            setattr(gc, name, original)


def test_the_projector_changes_no_process_wide_state_unless_given_a_pause() -> None:
    events = [line for line in five_lines() if line.startswith(b"{")]  # e1, e2, e3
    with collector_calls() as calls:
        projector = Projector()
        for event in events:
            projector.apply(read_event(event, arrival=None))
        projector.measures(date(2025, 6, 30))  # refolds and re-tallies
    assert calls == []
    with collector_calls() as calls:
        paused = Projector(pause=paused_collector)
        for event in events:
            paused.apply(read_event(event, arrival=None))
        paused.measures(date(2025, 6, 30))
    assert calls[:1] == ["disable"]  # its bulk work ran inside what the shell gave it


def test_the_simulator_changes_no_process_wide_state_unless_given_a_pause() -> None:
    with collector_calls() as calls:
        next(simulate(years=1, end=date(2025, 6, 30)))
    assert calls == []
    with collector_calls() as calls:
        next(simulate(years=1, end=date(2025, 6, 30), pause=paused_collector))
    assert calls == ["disable", "freeze", "enable"]


def test_one_loader_reads_a_file_or_the_log_alike(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(five_lines()))
    from_file = load_projector(path, tmp_path / "none.db")
    assert from_file.projector.event_count == 3 and from_file.dead_letters == 1
    assert [r.origin for r in from_file.rejected] == [f"{path} line 2"]
    with EventLog(tmp_path / "log.db") as log:
        ingest(five_lines(), log, origin="f.jsonl")
    from_log = load_projector(None, tmp_path / "log.db")
    assert from_log.projector.event_count == 3 and from_log.dead_letters == 1
    assert from_log.source == "the embedded event log" and from_file.source == "a file of events"
