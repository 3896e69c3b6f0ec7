"""lending selectors."""
