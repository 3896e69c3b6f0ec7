"""lifestyle selectors."""
