"""lifestyle services: writes (ledger, earning, deposits, merchants, vouchers, settlement, referrals, community)."""
