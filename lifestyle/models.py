"""lifestyle models."""
