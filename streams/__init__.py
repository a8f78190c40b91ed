"""Transports: the embedded SQLite log, ingest adapters, Kafka producer and Faust worker."""
