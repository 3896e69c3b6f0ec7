"""performance models."""
