"""Ingest: Netflix export parsing, in-stream expectations, the landing zone."""
