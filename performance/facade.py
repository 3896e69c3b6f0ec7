"""performance facade."""
