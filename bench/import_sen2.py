"""A Kent-sized SEN2 return through ``sendwatch import sen2``, against two baselines measured in
the same run: reading the same CSV files with the csv module, and ingesting the event lines the
import makes into a fresh log (the pipeline without the conversion).

    python bench/import_sen2.py [--years 3] [--runs 3]

The return is exported from a simulated Kent-sized history (``sendwatch export sen2``, census
day the 15 January after the history ends), so it has Kent's 20,000 or more plans.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from bench.history import END, history_years
from exchange.mapping import load_mapping
from exchange.pseudonym import Pseudonyms
from exchange.rows import Conversion, Made, convert
from sendwatch.import_command import built_in, import_command
from streams.ingest import ingest
from streams.log import EventLog

SECRET = "the benchmark's council secret"


def read_csv(folder: Path) -> int:
    rows = 0
    for path in sorted(folder.glob("*.csv")):
        with open(path, encoding="utf-8-sig", newline="") as stream:
            rows += sum(1 for _ in csv.reader(stream))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ["SENDWATCH_IMPORT_SECRET"] = SECRET
    history = history_years(args.years)
    census = f"{END.year + 1}-01-15"
    with tempfile.TemporaryDirectory() as tmp:
        here = Path(tmp)
        folder = here / "return"
        done = subprocess.run(
            [sys.executable, "-m", "sendwatch.cli", "export", "sen2", "--census", census,
             "--events", str(history), "--out", str(folder)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"export failed: {done.stderr}")
        with open(next(folder.glob("*_namedplan.csv")), encoding="utf-8") as stream:
            plans = sum(1 for _ in stream) - 1
        mapping_path = built_in("sen2")
        assert mapping_path is not None
        mapping = load_mapping(mapping_path)
        lines = [
            item.line
            for item in convert(mapping, folder, Pseudonyms(SECRET), Conversion())
            if isinstance(item, Made)
        ]
        best = {"csv": float("inf"), "ingest": float("inf"), "import": float("inf")}
        rows = 0
        quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - closed at exit
        for run in range(args.runs):
            start = time.perf_counter()
            rows = read_csv(folder)
            best["csv"] = min(best["csv"], time.perf_counter() - start)
            with EventLog(here / f"ingest{run}.db") as log:
                start = time.perf_counter()
                ingest(lines, log, origin="bench")
                best["ingest"] = min(best["ingest"], time.perf_counter() - start)
            start = time.perf_counter()
            code = import_command(
                "sen2", str(folder), db=here / f"import{run}.db", broker=None,
                topic="", partitions=1, check=False, console=quiet,
            )  # fmt: skip
            best["import"] = min(best["import"], time.perf_counter() - start)
            assert code == 0
    print(f"SEN2 return (census {census})  {plans:>10,} plans, {rows:,} CSV rows")
    print(f"events made                  {len(lines):>10,}")
    print(f"read the CSVs (csv module)   {best['csv']:>10.2f} s")
    print(f"ingest the events only       {best['ingest']:>10.2f} s")
    rate = rows / best["import"]
    print(f"sendwatch import sen2        {best['import']:>10.2f} s   {rate:,.0f} rows/s")
    print(f"ratio import / read CSVs     {best['import'] / best['csv']:>10.2f}x")
    print(f"ratio import / ingest only   {best['import'] / best['ingest']:>10.2f}x")


if __name__ == "__main__":
    main()
