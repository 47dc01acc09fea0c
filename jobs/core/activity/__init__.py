"""Viewing activity: the facts built from sessions and statements."""
