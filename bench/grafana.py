"""Grafana as code: generating the dashboards, and pushing them (first push against a second).

    python -m bench.grafana [--rounds 20]

Generation is measured against its own floor, serialising the same documents again (what is
left is building them with grafana-foundation-sdk). The push is measured against the fake
Grafana of tests/test_grafana_push.py over real HTTP on 127.0.0.1: the second push, which only
reads, against the first, which writes everything. Both in this one process.
"""

from __future__ import annotations

import argparse
import threading
import time
from http.server import ThreadingHTTPServer

from observability.grafana import dashboards, render
from observability.grafana_push import push


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    start = time.perf_counter()
    for _ in range(args.rounds):
        documents = dashboards()
        for document in documents.values():
            render(document)
    generate_s = (time.perf_counter() - start) / args.rounds
    start = time.perf_counter()
    for _ in range(args.rounds):
        for document in documents.values():
            render(document)
    render_s = (time.perf_counter() - start) / args.rounds

    from tests.test_grafana_push import TOKEN, FakeGrafana, handler_for

    first_s = second_s = 0.0
    for _ in range(args.rounds):
        fake = FakeGrafana()
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            start = time.perf_counter()
            push(url, TOKEN, "http://prometheus:9090")
            first_s += time.perf_counter() - start
            start = time.perf_counter()
            changes = push(url, TOKEN, "http://prometheus:9090")
            second_s += time.perf_counter() - start
            assert {c.action for c in changes} == {"unchanged"}
        finally:
            server.shutdown()
            server.server_close()
    first_s, second_s = first_s / args.rounds, second_s / args.rounds

    print(f"rounds                          {args.rounds:>10}")
    print(f"serialise the dashboards only   {render_s * 1000:>10.1f} ms")
    print(f"generate the dashboards         {generate_s * 1000:>10.1f} ms")
    print(f"ratio (generate / serialise)    {generate_s / render_s:>10.2f}x")
    print(f"first push (writes everything)  {first_s * 1000:>10.1f} ms")
    print(f"second push (reads only)        {second_s * 1000:>10.1f} ms")
    print(f"ratio (second / first)          {second_s / first_s:>10.2f}x")


if __name__ == "__main__":
    main()
