"""Shared core of the jobs: configuration, table specs, Spark session and Delta engines."""
