"""The event contract (CONTRACT.md section 1, v1.1): models, versions and upcasters, the decoder."""

from events.codec import (
    Event,
    InvalidEvent,
    Record,
    decode,
    decode_event,
    encode,
    from_bodies,
    from_body,
    from_record,
    from_stored,
    read_event,
)
from events.envelope import json_schema
from events.types import DATA_MODELS, EVENT_TYPES

__all__ = [
    "DATA_MODELS",
    "EVENT_TYPES",
    "Event",
    "InvalidEvent",
    "Record",
    "decode",
    "decode_event",
    "encode",
    "from_bodies",
    "from_body",
    "from_record",
    "from_stored",
    "json_schema",
    "read_event",
]
