#!/usr/bin/env bash
# Simulate three years (or the second argument's) of a Kent-sized council (once), load them
# into demo/sendwatch.db, and run the embedded service with the dashboard on
# http://127.0.0.1:PORT/.
set -euo pipefail
port="${1:-8000}"
years="${2:-3}"
bin="$(dirname "$0")/../.venv/bin"
mkdir -p demo
if [ ! -s demo/sendwatch.db ]; then
  # to yesterday: a history recorded up to this morning, none of it later than now
  "$bin/sendwatch" simulate --seed 1 --years "$years" --end "$(date -d yesterday +%F)" --out demo/kent.jsonl
  "$bin/sendwatch" ingest demo/kent.jsonl --db demo/sendwatch.db
fi
"$bin/sendwatch" metrics --db demo/sendwatch.db --format table
exec "$bin/sendwatch" run --db demo/sendwatch.db --port "$port"
