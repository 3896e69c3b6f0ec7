"""The seeded credit policy (规则库初始化): variable catalogue, reason codes, the seven products and the
JDM graphs of their admission, rating, limit, pricing and early-warning rule sets, with test cases.
Documented in docs/riskrules.md."""
