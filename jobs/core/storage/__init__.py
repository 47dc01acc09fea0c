"""Storage: the Delta engines, incremental builds, locks, checkpoints, table health."""
