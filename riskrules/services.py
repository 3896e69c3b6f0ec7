"""riskrules services."""
