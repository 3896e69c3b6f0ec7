"""lending models."""
