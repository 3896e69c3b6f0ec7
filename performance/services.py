"""performance services."""
