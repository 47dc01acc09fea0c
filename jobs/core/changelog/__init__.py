"""Change logs of the playback state: resume points and sessions, their compaction."""
