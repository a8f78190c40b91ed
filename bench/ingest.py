"""Ingest into the embedded SQLite log, against bare orjson decoding of the same lines.

    python bench/ingest.py [--events 1000000]

Prints events per second for both, measured in this one process, and their ratio.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.history import bare_decoding_seconds, sized_history
from streams.ingest import ingest
from streams.log import EventLog


def main() -> None:
    lines = sized_history(__doc__)
    count = len(lines)
    decode_s = bare_decoding_seconds(lines)

    with tempfile.TemporaryDirectory() as folder, EventLog(Path(folder) / "bench.db") as log:
        start = time.perf_counter()
        summary = ingest(lines, log, origin="bench")
        ingest_s = time.perf_counter() - start
        assert summary.accepted == count, summary

    decode_rate, ingest_rate = count / decode_s, count / ingest_s
    print(f"events                   {count:>12,}")
    print(f"orjson decode only       {decode_rate:>12,.0f} events/s")
    print(f"ingest into SQLite log   {ingest_rate:>12,.0f} events/s")
    print(f"ratio (decode / ingest)  {decode_rate / ingest_rate:>12.2f}x   (goal: within 5x)")


if __name__ == "__main__":
    main()
