"""Viewing-history rules: as-of time, progress, episodes, keys, ids, Continue Watching."""
