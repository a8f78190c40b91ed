"""The embedded service under load: batched JSONL posted over loopback from this process to a
real ``sendwatch run`` (another process) over a simulated Kent-sized history.

    python -m bench.serve [--preload 400000] [--throughput 100000] [--batch 5000] [--paced]

Reports, for the service:
- events per second accepted, batches posted back to back (nobody reading);
- events per second and the p50/p99 time from sending a POST to its batch being visible in
  ``GET /api/measures`` (each batch carries one new child on SEN support, so the batch is
  visible when the count of children on SEN support at its setting has gone up by one),
  for several batch sizes;
- how long after the last POST of the back-to-back run the alert process (which follows the
  log in a process of its own, ``sendwatch.alert_process``) has judged every event, as
  ``/healthz`` says;
- the same, back to back, with the dashboard page open: a thread asks what the page asks
  (``/healthz`` every second, and its four reads when the log has moved), and the time each
  of its refreshes took; with ``--paced``, instead, two senders at once (threads, as two
  council systems might) together offer the goal's 20,000 events/s in 1,000-event POSTs,
  each reading its batch back from ``/api/measures``: the rate achieved and the p50/p99;
and two baselines measured in the same run, with the ratios:
- bare decoding: the same lines through ``streams.ingest.decode_lines`` in this process;
- a trivial endpoint: the same POSTs to a bare FastAPI app on uvicorn that reads the body
  and answers its length (the HTTP stack alone).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from bench.history import history_lines
from streams.ingest import decode_lines, ingest, split_lines
from streams.log import EventLog
from tests.running_service import sendwatch_run_command
from tests.services import free_port, serving

TOKEN = "bench-token"
SETTING = "URN-BENCH"  # the sentinels' setting: its count goes up by one per batch
ROOT = Path(__file__).resolve().parent.parent
HISTORY = 1_000_000  # events of the simulated history the runs take their events from
GOAL = 20_000  # events a second (issue: at least this, in batches, with p99 under 200 ms)
PACED_BATCH = 1_000  # events per POST of the run offered at the goal's rate
PACED_SENDERS = 2  # sending at once, as two council systems might
DASHBOARD_READS = (  # what sendwatch/static/app.js reads when the log has moved
    "/api/scorecard",
    "/api/measures",
    "/api/alerts?limit=6",
    "/api/trend?clock=final_plan&months=12",
)


@contextmanager
def started(what: str, command: Sequence[str], port: int, log: Path) -> Iterator[None]:
    """``command`` serving on ``port``, once its /healthz answers (within 600 s)."""
    env = {**os.environ, "SENDWATCH_API_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    with serving(
        what, command, ready=f"http://127.0.0.1:{port}/healthz", log=log, env=env, seconds=600
    ):
        yield


def trivial_server(port: int) -> None:
    """The baseline: FastAPI on uvicorn, reading the body and answering its length."""
    import uvicorn

    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b"{}", media_type="application/json")

    @app.post("/api/events")
    async def events(request: Request) -> Response:
        body = await request.body()
        return Response(orjson.dumps({"bytes": len(body)}), media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


def sentinel(n: int, day: str, setting: str = SETTING) -> bytes:
    return orjson.dumps(
        {
            "event_id": f"bench-sentinel-{n}",
            "type": "sen_support.started",
            "case_id": f"BENCH-{n}",
            "occurred_at": day,
            "data": {"setting_id": setting},
        }
    )


def batches(
    lines: list[bytes], size: int, day: str, first: int, setting: str = SETTING
) -> list[bytes]:
    """JSONL bodies of ``size`` lines each (``size - 1`` of ``lines``, then a new sentinel)."""
    out = []
    for n, start in enumerate(range(0, len(lines), size - 1)):
        chunk = [line.rstrip(b"\n") for line in lines[start : start + size - 1]]
        out.append(b"\n".join([*chunk, sentinel(first + n, day, setting)]))
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def post_all(client: httpx.Client, bodies: list[bytes]) -> tuple[int, float]:
    accepted = 0
    start = time.perf_counter()
    for body in bodies:
        answer = client.post("/api/events", content=body)
        answer.raise_for_status()
        accepted += answer.json().get("accepted", 0)
    return accepted, time.perf_counter() - start


def alerts_caught_up(client: httpx.Client) -> float:
    """Seconds until ``/healthz`` says the alert process has judged everything (600 s at
    most; 0 for a service that judges alerts inside its POSTs and says nothing of it)."""
    start = time.perf_counter()
    while client.get("/healthz").json().get("alerts_pending", False):
        if time.perf_counter() - start > 600:
            raise SystemExit("the alert process did not catch up within 600 s")
        time.sleep(0.05)
    return time.perf_counter() - start


@contextmanager
def dashboard_open(url: str, headers: dict[str, str]) -> Iterator[list[float]]:
    """What the dashboard page asks, in a thread, as the page does: ``/healthz`` every
    second, and its four reads when the log has moved. Yields the seconds each refresh took."""
    stop = threading.Event()
    took: list[float] = []

    def refresh(client: httpx.Client) -> None:
        start = time.perf_counter()
        for path in DASHBOARD_READS:
            client.get(path).raise_for_status()
        took.append(time.perf_counter() - start)

    def page(client: httpx.Client) -> None:
        seen = None
        while not stop.wait(1.0):
            health = client.get("/healthz").json()
            if health["position"] != seen:
                seen = health["position"]
                refresh(client)

    client = httpx.Client(base_url=url, headers=headers, timeout=120)
    refresh(client)  # the page was open before the events came
    took.clear()
    thread = threading.Thread(target=page, args=(client,), daemon=True)
    thread.start()
    try:
        yield took
    finally:
        stop.set()
        thread.join()
        client.close()


def bench_children(client: httpx.Client, setting: str = SETTING) -> int:
    """Children on SEN support at a setting of the sentinels (nothing else uses it)."""
    measures = client.get("/api/measures").json()
    count: int = measures["sen_support"]["by_setting"].get(setting, 0)
    return count


def post_and_see(
    client: httpx.Client,
    bodies: list[bytes],
    setting: str = SETTING,
    slots: tuple[float, float] | None = None,
) -> tuple[int, float, list[float]]:
    """Each POST, then /api/measures until its sentinel shows: (accepted, seconds, latencies).
    ``slots`` (first, interval) paces the POSTs: each waits for its slot (or goes at once
    when late)."""
    seen = bench_children(client, setting)
    accepted, latencies = 0, []
    start = time.perf_counter()
    for n, body in enumerate(bodies):
        if slots is not None:
            time.sleep(max(0.0, slots[0] + n * slots[1] - time.perf_counter()))
        sent = time.perf_counter()
        answer = client.post("/api/events", content=body)
        answer.raise_for_status()
        accepted += answer.json()["accepted"]
        while (shown := bench_children(client, setting)) <= seen:
            if time.perf_counter() - sent > 60:
                raise SystemExit("a batch was not visible in /api/measures within 60 s")
        latencies.append(time.perf_counter() - sent)
        seen = shown
    return accepted, time.perf_counter() - start, latencies


def paced(
    client: httpx.Client, runs: list[list[bytes]], rate: float
) -> tuple[int, float, list[float], float]:
    """Several senders at once (threads, each with its own sentinels' setting), together
    offering ``rate`` events a second, each batch read back as in ``post_and_see``:
    (accepted, seconds from the first POST until every batch showed, latencies, the
    seconds the offered rate itself takes: a service that keeps up takes about as long)."""
    size = runs[0][0].count(b"\n") + 1
    interval = size * len(runs) / rate  # each sender's
    first = time.perf_counter() + 0.5
    done: list[tuple[int, float, list[float]]] = []
    failed: list[BaseException] = []

    def sender(n: int, bodies: list[bytes]) -> None:
        try:
            with httpx.Client(base_url=client.base_url, headers=client.headers, timeout=120) as c:
                slots = (first + n * interval / len(runs), interval)
                done.append(post_and_see(c, bodies, f"{SETTING}-{n}", slots))
        except BaseException as error:  # SystemExit too: reported below
            failed.append(error)

    threads = [threading.Thread(target=sender, args=item) for item in enumerate(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise SystemExit(f"a paced sender failed: {failed[0]!r}")
    seconds = time.perf_counter() - first
    last_slot = max(len(bodies) for bodies in runs) * interval  # the offered rate's own time
    return sum(d[0] for d in done), seconds, [t for d in done for t in d[2]], last_slot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preload", type=int, default=400_000, help="events in the log at start")
    parser.add_argument(
        "--throughput", type=int, default=100_000, help="events posted back to back"
    )
    parser.add_argument("--batch", type=int, default=5_000, help="events per POST (throughput)")
    parser.add_argument(
        "--paced",
        action="store_true",
        help=f"with the dashboard open, {PACED_SENDERS} senders at once offering {GOAL:,}"
        " events/s, each batch read back, instead of one sender back to back",
    )
    parser.add_argument(
        "--rate", type=int, default=GOAL, help="events/s the --paced senders offer together"
    )
    parser.add_argument("--trivial-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trivial_server:
        trivial_server(args.trivial_server)
        return

    # (batch size, POSTs) for the visibility latency, after the back-to-back throughput run
    latency_runs = ((100, 200), (1_000, 100), (2_000, 50), (args.batch, 10))
    live_count = 3 * args.throughput + sum(size * posts for size, posts in latency_runs)
    # the head of one fixed history, whatever the runs' sizes (a history simulated for a
    # given number of events spans as many years as it needs, so it differs with it)
    lines = history_lines(HISTORY)[: args.preload + live_count]
    if len(lines) < args.preload + live_count:
        raise SystemExit(f"the runs need more than the {HISTORY:,} events of the history")
    preload, live = lines[: args.preload], lines[args.preload :]
    now = datetime.fromisoformat(orjson.loads(live[-1])["recorded_at"]).date().isoformat()
    throughput_bodies = batches(live[: args.throughput], args.batch, now, 0)
    end = 3 * args.throughput
    watched_lines = live[args.throughput : end]
    watched_bodies = batches(watched_lines, args.batch, now, 9 * 10**6)
    paced_bodies = [  # the same events for --paced, dealt out in turn: both send the same days
        batches(
            watched_lines[n::PACED_SENDERS],
            PACED_BATCH,
            now,
            (80 + n) * 10**5,
            f"{SETTING}-{n}",
        )
        for n in range(PACED_SENDERS)
    ]
    latency_bodies, first = {}, end
    for n, (size, posts) in enumerate(latency_runs, start=1):
        taken = (size - 1) * posts
        latency_bodies[size] = batches(live[first : first + taken], size, now, n * 10**6)
        first += taken

    start = time.perf_counter()
    decoded = sum(
        1
        for body in throughput_bodies
        for item in decode_lines(split_lines(body), origin="bench")
        if item.record is not None
    )
    bare_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.db"
        with EventLog(db) as log:
            ingest(preload, log, origin="preload")
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
        trivial_port = free_port()
        with (
            started(
                "the trivial server",
                [sys.executable, __file__, "--trivial-server", str(trivial_port)],
                trivial_port,
                Path(folder) / "trivial.log",
            ),
            httpx.Client(
                base_url=f"http://127.0.0.1:{trivial_port}", headers=headers, timeout=120
            ) as client,
        ):
            _, trivial_s = post_all(client, throughput_bodies)
            trivial_latency = {}
            for size, bodies in latency_bodies.items():
                times = []
                for body in bodies:
                    sent = time.perf_counter()
                    client.post("/api/events", content=body).raise_for_status()
                    times.append(time.perf_counter() - sent)
                trivial_latency[size] = times

        port = free_port()
        loading = time.perf_counter()
        with (
            started(
                "sendwatch run",
                sendwatch_run_command(db, port, now),
                port,
                Path(folder) / "sendwatch.log",
            ),
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120
            ) as client,
        ):
            startup_s = time.perf_counter() - loading
            client.get("/api/measures").raise_for_status()
            accepted, service_s = post_all(client, throughput_bodies)
            alerts_lag_s = alerts_caught_up(client)
            with dashboard_open(str(client.base_url), headers) as refreshes:
                if args.paced:
                    watched_count, watched_s, paced_latencies, offered_s = paced(
                        client, paced_bodies, args.rate
                    )
                else:
                    watched_count, watched_s = post_all(client, watched_bodies)
            watched_lag_s = alerts_caught_up(client)
            results = {
                size: post_and_see(client, bodies) for size, bodies in latency_bodies.items()
            }

    posted = sum(body.count(b"\n") + 1 for body in throughput_bodies)
    service_rate, bare_rate = accepted / service_s, decoded / bare_s
    trivial_rate = posted / trivial_s
    print(f"history preloaded           {len(preload):>10,} events; now = {now}")
    print(f"service start (catch-up)    {startup_s:>10.1f} s")
    print(f"throughput: {len(throughput_bodies)} POSTs of {args.batch:,} events, back to back")
    print(
        f"  sendwatch run accepted    {service_rate:>10,.0f} events/s   (stored and applied;"
        " measures and alerts made afterwards: see the next lines)"
    )
    for name, rate in (("bare decoding", bare_rate), ("trivial POST", trivial_rate)):
        print(f"  baseline: {name:<15} {rate:>10,.0f} events/s   ratio {service_rate / rate:.2f}")
    print(
        f"  alerts judged to the last  {alerts_lag_s:>10.1f} s after the last POST"
        f" (the alert process, {accepted / (service_s + alerts_lag_s):,.0f} events/s overall)"
    )
    print(
        "  (nobody reads the measures meanwhile: a case's tallies are made again when they"
        " are next read, below)"
    )
    if args.paced:
        print(
            f"  paced, the dashboard open: {PACED_SENDERS} senders at once,"
            f" together offering {args.rate:,} events/s in POSTs of {PACED_BATCH:,}, each POST"
            " then GET until the batch shows"
        )
        print(
            f"    achieved                 {watched_count / watched_s:>10,.0f} events/s"
            f"   ({watched_s:.1f} s for what was offered over {offered_s:.1f} s;"
            f" alerts judged to the last {watched_lag_s:.1f} s after)"
        )
        print(
            f"    POST to visible          p50 {percentile(paced_latencies, 50) * 1000:.1f} ms,"
            f" p99 {percentile(paced_latencies, 99) * 1000:.1f} ms,"
            f" max {max(paced_latencies) * 1000:.1f} ms ({len(paced_latencies)} POSTs;"
            " goal: p99 < 200 ms)"
        )
    else:
        print(
            f"  with the dashboard open    {watched_count / watched_s:>10,.0f} events/s"
            f"   (goal: >= {GOAL:,}; alerts judged to the last {watched_lag_s:.1f} s after)"
        )
    print(
        f"    its {len(refreshes)} refreshes (a second apart, when the log has moved) took"
        f" {percentile(refreshes, 50) * 1000:,.0f} ms at the median,"
        f" {max(refreshes) * 1000:,.0f} ms at most"
    )
    print("POST to visible in /api/measures (each POST, then GET until the batch shows):")
    print(
        f"  {'batch':>6} {'POSTs':>6} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'max ms':>8} {'trivial p50':>12} {'trivial p99':>12}"
    )
    for size, (count, seconds, latencies) in results.items():
        base = trivial_latency[size]
        print(
            f"  {size:>6,} {len(latencies):>6} {count / seconds:>10,.0f}"
            f" {percentile(latencies, 50) * 1000:>8.1f} {percentile(latencies, 99) * 1000:>8.1f}"
            f" {max(latencies) * 1000:>8.1f}"
            f" {percentile(base, 50) * 1000:>12.1f} {percentile(base, 99) * 1000:>12.1f}"
        )
    print("  (goal: p99 < 200 ms)")


if __name__ == "__main__":
    main()
