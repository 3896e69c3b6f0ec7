"""riskrules models."""
