"""riskrules selectors."""
