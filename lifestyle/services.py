"""lifestyle services."""
