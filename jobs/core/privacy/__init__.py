"""Privacy: the right to erasure."""
