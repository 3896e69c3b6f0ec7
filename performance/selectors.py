"""performance selectors."""
