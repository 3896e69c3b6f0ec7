"""lifestyle facade."""
