"""KYC models (filled in by the KYC work; imported by jikuai.customers.models so Django discovers them)."""
