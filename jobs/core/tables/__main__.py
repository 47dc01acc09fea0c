"""``python -m jobs.core.tables > docs/tables.md``: the tables' reference, from the specs."""

from jobs.core.tables.registry import markdown

print(markdown(), end="")
