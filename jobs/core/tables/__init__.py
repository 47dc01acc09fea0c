"""Table specs: every Delta table declared once, per layer, and their SQL views."""
