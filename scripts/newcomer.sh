#!/usr/bin/env bash
# The newcomer's path, as CI proves it: the README's first command (`make demo`) on a clean
# clone, in a fresh virtual environment without the dev extra. It starts the demo, waits for
# the dashboard to answer with events loaded, checks that every module of sendwatch imports
# with only the runtime dependencies, then stops the demo. A runtime dependency declared only
# in the dev extra fails here, as it would on a council's machine.
#
#   scripts/newcomer.sh [PORT]      (default 8765; DEMO_YEARS=1 for a shorter history)
set -euo pipefail
port="${1:-8765}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
log="$work/demo.log"
demo_pid=""

finish() {
  status=$?
  if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
    kill -TERM -- "-$demo_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$demo_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ]; then
    echo "newcomer: FAILED; the demo printed:" >&2
    tail -n 40 "$log" >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap finish EXIT

echo "newcomer: a clean clone of $repo in $work"
git clone -q "$repo" "$work/sendwatch"
cd "$work/sendwatch"

# `make demo`, exactly as the README says, in its own process group so it can be stopped whole
echo "newcomer: make demo PORT=$port (fresh .venv, no dev extra)"
setsid make demo PORT="$port" ${DEMO_YEARS:+DEMO_YEARS="$DEMO_YEARS"} >"$log" 2>&1 &
demo_pid=$!

deadline=$((SECONDS + 900))
until body="$(curl -fsS "http://127.0.0.1:$port/healthz" 2>/dev/null)"; do
  if ! kill -0 "$demo_pid" 2>/dev/null; then
    echo "newcomer: make demo ended before the dashboard answered" >&2
    exit 1
  fi
  if [ "$SECONDS" -gt "$deadline" ]; then
    echo "newcomer: the dashboard did not answer within 15 minutes" >&2
    exit 1
  fi
  sleep 2
done
events="$(printf '%s' "$body" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["events"])')"
if [ "$events" -le 0 ]; then
  echo "newcomer: the dashboard answered with no events loaded: $body" >&2
  exit 1
fi
page="$(curl -fsS "http://127.0.0.1:$port/")"
printf '%s' "$page" | grep -q "sendwatch" || {
  echo "newcomer: the dashboard page did not load" >&2
  exit 1
}
echo "newcomer: the dashboard answers with $events events loaded"

if .venv/bin/python -c 'import pytest' 2>/dev/null; then
  echo "newcomer: the dev extra is installed in the demo's environment: not a newcomer's" >&2
  exit 1
fi
# every module imports with the runtime dependencies alone (grafana push's client is an
# optional extra, imported only when asked for)
.venv/bin/python - <<'EOF'
import importlib
import pkgutil

failed = []
for package in ("events", "projections", "streams", "exchange", "alerts", "observability",
                "reports", "sendwatch"):
    try:
        root = importlib.import_module(package)
    except ModuleNotFoundError as error:
        if error.name == package:
            continue  # a room this version does not have
        raise
    for module in pkgutil.walk_packages(root.__path__, package + "."):
        try:
            importlib.import_module(module.name)
        except ModuleNotFoundError as error:
            failed.append(f"{module.name}: {error}")
if failed:
    raise SystemExit("newcomer: modules that need a package the runtime does not declare:\n  "
                     + "\n  ".join(failed))
print("newcomer: every module imports with the runtime dependencies alone")
EOF
echo "newcomer: ok"
