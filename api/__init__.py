"""The viewing-activity HTTP API: FastAPI over the lakehouse's Delta tables.

Reads go straight to Delta through delta-rs and pyarrow (no JVM in the request path);
writes become landing events that the streaming ingest takes in exactly once.
"""
