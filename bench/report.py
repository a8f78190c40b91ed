"""The monthly scrutiny report for a Kent-sized council, against the bare replay of its events.

    .venv/bin/python -m bench.report [--years 1] [--month 2025-06]
    .venv/bin/python -m bench.report --from-log 1,3,6

The history is the simulator's default (Kent-sized) council for ``--years`` years to
30 June 2025, cached under bench/data/. In this one process: the bare replay of the JSONL
into a projector (the baseline: what every command that reads a file does first); then
``sendwatch report`` end to end (its own replay included), and its stages over the
baseline's projector: the figures, the HTML, the PDF.

``--from-log``: how the report's time grows with the history. For each number of years (to
30 June 2026), the history is ingested into a log and its snapshot saved (as ``sendwatch
run`` and ``sendwatch snapshot`` leave it); then ``sendwatch report --db`` for May 2026,
end to end in a process of its own (its peak memory too), against the bare decoding of the
same history.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.history import bare_decoding_seconds, history_years
from reports import benchmarks
from reports.disclosure import Disclosure
from reports.document import Options, render_html, write_pdf
from reports.figures import Month, compute
from sendwatch.report_command import report_command
from sendwatch.snapshot_command import take_snapshot
from sendwatch.tuning import paused_collector
from streams.ingest import ingest
from streams.log import EventLog
from streams.replay import load_projector

END = date(2025, 6, 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--years", type=int, default=1)
    parser.add_argument("--month", default="2025-06")
    parser.add_argument("--from-log", help="years of history, comma-separated: e.g. 1,3,6")
    args = parser.parse_args()
    if args.from_log:
        from_log([int(years) for years in args.from_log.split(",")])
        return
    path = history_years(args.years, end=END)
    month = Month.parse(args.month)

    start = time.perf_counter()
    projector = load_projector(path, pause=paused_collector).projector
    replay_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        start = time.perf_counter()
        code = report_command(args.month, str(path), out / "x.db", out, as_known_now=False)
        report_s = time.perf_counter() - start
        assert code == 0
        pdf_size = (out / f"report-{args.month}.pdf").stat().st_size
        html_size = (out / f"report-{args.month}.html").stat().st_size

        start = time.perf_counter()
        figures = compute(projector, month)
        figures_s = time.perf_counter() - start
        start = time.perf_counter()
        html = render_html(figures, benchmarks.load(), Options(10, Disclosure()))
        html_s = time.perf_counter() - start
        start = time.perf_counter()
        write_pdf(html, out / "again.pdf")
        pdf_s = time.perf_counter() - start
        start = time.perf_counter()
        compute(projector, month, as_known_now=True)
        revised_s = time.perf_counter() - start

    print(f"history                      {args.years} year(s) to {END}, {path.name}")
    print(f"events                       {projector.event_count:>12,}")
    print(f"cases                        {projector.case_count:>12,}")
    print(f"bare replay (baseline)       {replay_s:>10.1f} s")
    print(
        f"sendwatch report, end to end {report_s:>10.1f} s   ratio {report_s / replay_s:5.2f}x"
        f"   (limit 60 s)"
    )
    print(f"  figures                    {figures_s:>10.1f} s   ratio {figures_s / replay_s:5.2f}x")
    print(f"  figures, as known now      {revised_s:>10.1f} s   ratio {revised_s / replay_s:5.2f}x")
    print(f"  HTML (with 9 charts)       {html_s:>10.1f} s   ratio {html_s / replay_s:5.2f}x")
    print(f"  PDF                        {pdf_s:>10.1f} s   ratio {pdf_s / replay_s:5.2f}x")
    print(f"PDF size                     {pdf_size / 1024:>10.0f} KiB")
    print(f"HTML size                    {html_size / 1024:>10.0f} KiB")


LOG_END = date(2026, 6, 30)
LOG_MONTH = "2026-05"


# ``sendwatch report`` in a process of its own, which says its peak memory as it ends
_REPORT = (
    "import resource, sys\n"
    "from sendwatch.cli import main\n"
    "sys.argv = ['sendwatch', 'report', *sys.argv[1:]]\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def from_log(histories: list[int]) -> None:
    """``sendwatch report --db`` from a snapshot, for histories of several lengths."""
    print("years     events   bare decoding   report, its own process   ratio   peak memory")
    for years in histories:
        path = history_years(years, end=LOG_END)
        lines = path.read_bytes().splitlines()
        count = len(lines)
        decode_s = bare_decoding_seconds(lines)
        with tempfile.TemporaryDirectory() as folder:
            db = Path(folder) / "sendwatch.db"
            with EventLog(db) as log:
                ingest(lines, log, origin="bench")
            del lines
            take_snapshot(db, LOG_END)
            start = time.perf_counter()
            arguments = ["--month", LOG_MONTH, "--db", str(db), "--out", folder]
            done = subprocess.run(
                [sys.executable, "-c", _REPORT, *arguments],
                check=True,
                capture_output=True,
                text=True,
            )
            report_s = time.perf_counter() - start
        peak_kib = int(done.stderr.strip().splitlines()[-1])
        print(
            f"{years:>5} {count:>10,} {decode_s:>13.2f} s {report_s:>23.1f} s"
            f"   {report_s / decode_s:5.1f}x   {peak_kib / 1024:,.0f} MiB"
        )


if __name__ == "__main__":
    main()
