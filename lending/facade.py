"""lending facade."""
