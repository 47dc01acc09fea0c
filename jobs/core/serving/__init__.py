"""Serving: how readers reach the tables (SQL names over Delta folders)."""
