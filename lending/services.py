"""lending services."""
