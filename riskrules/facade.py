"""riskrules facade."""
