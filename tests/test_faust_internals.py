"""The private parts of Faust, mode, aiokafka and librdkafka that the Kafka worker relies on
(the comment block at the top of ``streams/kafka_worker.py`` says why each is needed).

The worker falls back quietly when one is missing (slower rebuilds, a race back), so no test
on a broker is sure to fail after an upgrade: these do, at once, on the installed classes.
They need no broker: the worker is built, never started.
"""

from __future__ import annotations

import inspect

from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]
from confluent_kafka import KafkaError
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from streams.kafka import KafkaSettings
from streams.kafka_worker import Worker


def built_worker() -> Worker:
    return Worker(servers=["127.0.0.1:9"], topic="t", settings=KafkaSettings(), queries=list)


def test_fausts_consumer_hands_over_its_consumer_thread() -> None:
    # ``_fetching`` and ``_finish_bulk`` read ``app.consumer._thread`` (with a getattr that
    # falls back silently), call its ``_ensure_consumer()`` on that thread through
    # ``call_thread``, and pause, resume and check the assignment of what it returns
    consumer = built_worker().app.consumer
    thread = getattr(consumer, "_thread", None)
    assert isinstance(thread, AIOKafkaConsumerThread), type(thread)
    assert inspect.iscoroutinefunction(thread.call_thread)
    assert callable(thread._ensure_consumer)
    returns = inspect.signature(AIOKafkaConsumerThread._ensure_consumer).return_annotation
    assert "AIOKafkaConsumer" in str(returns), returns
    for method in ("assignment", "pause", "resume"):
        assert callable(getattr(AIOKafkaConsumer, method, None)), method


def test_fausts_public_consumer_calls_are_there() -> None:
    # public, but the worker's hand-over between bulk reading and the agent rests on them
    consumer = built_worker().app.consumer
    for method in ("assignment", "seek", "highwater", "pause_partitions", "resume_partitions"):
        assert callable(getattr(consumer, method, None)), method


def test_librdkafka_reports_a_partitions_end() -> None:
    # ``read_fetched`` tells a partition's end from any other error by this code
    assert isinstance(KafkaError._PARTITION_EOF, int)
    assert KafkaError(KafkaError._PARTITION_EOF).code() == KafkaError._PARTITION_EOF
