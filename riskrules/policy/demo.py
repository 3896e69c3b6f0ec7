"""Demo data on top of the seeded policy: list entries with maker-checker and sample decisions."""

import datetime as dt
import random

from django.db import transaction

from jikuai.core.idnumber import generate_id_number
from riskrules.features import Subject, id_number_index
from riskrules.models import DecisionRecord, ListEntry
from riskrules.policy.seed import seed_catalogue, seed_officers, seed_rule_sets

DEMO_DATE = dt.date(2025, 6, 30)
DEMO_SOURCE = "seed_demo_riskrules"


def _demo_applicants() -> list[dict]:
    """Deterministic applicants (no customer records needed): ID numbers are generated, never real."""
    rng = random.Random(20250630)
    applicants = []
    plans = [
        ("jnkd_credit", "farmer", 10),
        ("gxd_admission", "civil_servant", 4),
        ("ydd_admission", "teacher", 4),
        ("jld_admission", "employee", 3),
        ("tsd_admission", "individual_business", 3),
        ("xyd_admission", "individual_business", 3),
        ("jwkd_admission", "micro_business_owner", 3),
    ]
    for ruleset_code, occupation, count in plans:
        for n in range(count):
            age = rng.randint(20, 66)
            birth = dt.date(DEMO_DATE.year - age, rng.randint(1, 12), rng.randint(1, 28))
            id_number = generate_id_number(region_code="220182", birth_date=birth, gender=rng.choice("MF"), rng=rng)
            income = rng.choice([250_000, 400_000, 600_000, 900_000, 1_500_000])
            inputs = {
                "decision_date": DEMO_DATE.isoformat(),
                "id_number": id_number,
                "occupation": occupation,
                "monthly_income_fen": income,
                "monthly_debt_fen": income * rng.choice([10, 30, 45, 60]) // 100,
                "kyc_verified": rng.random() > 0.1,
                "credit_consent": rng.random() > 0.05,
                "current_overdue_count": 0 if rng.random() > 0.1 else 1,
                "past_overdue_times_24m": rng.choice([0, 0, 0, 1, 2]),
                "years_with_bank": rng.randint(0, 12),
                "deposit_avg_6m_fen": rng.choice([0, 300_000, 1_500_000, 6_000_000]),
                "household_appraisal": rng.choice(["excellent", "good", "fair", "none"]),
                "employment_years": rng.randint(0, 15),
                "whitelist_limit_fen": rng.choice([5_000_000, 10_000_000, 20_000_000]),
                "business_years": rng.choice([0.5, 2, 5]),
                "employer_category": {"jld_admission": "listed_enterprise"}.get(ruleset_code, "other"),
            }
            applicants.append({"ruleset_code": ruleset_code, "subject_id": f"DEMO-{ruleset_code}-{n + 1}", "inputs": inputs})
    return applicants


def seed_demo(*, decisions: bool = True) -> dict:
    with transaction.atomic():
        seed_catalogue()
        maker, checker = seed_officers()
        published = seed_rule_sets(maker=maker, checker=checker)
    applicants = _demo_applicants()
    lists = _seed_lists(applicants, maker, checker)
    made = 0
    if decisions:
        from riskrules.services.decisions import decision_make

        for applicant in applicants:
            if DecisionRecord.objects.filter(subject_kind="application", subject_id=applicant["subject_id"]).exists():
                continue
            with transaction.atomic():
                decision_make(
                    ruleset_code=applicant["ruleset_code"],
                    subject=Subject(kind="application", id=applicant["subject_id"]),
                    inputs=applicant["inputs"],
                    source=DEMO_SOURCE,
                )
            made += 1
    customer_made = _seed_customer_decisions(maker, checker) if decisions else 0
    return {"rule sets": len(published), "list entries": lists, "decisions": made, "customer decisions": customer_made}


PRODUCT_BY_OCCUPATION = {
    "farmer": ("jnkd_credit", {}),
    "civil_servant": ("gxd_admission", {}),
    "teacher": ("ydd_admission", {}),
    "employee": ("jld_admission", {"employer_category": "listed_enterprise"}),
    "individual_business": ("jwkd_admission", {"business_years": 3}),
    "micro_business_owner": ("xyd_admission", {"business_years": 4}),
}


def _seed_customer_decisions(maker, checker, per_institution: int = 12) -> int:
    """Decisions for the kernel's demo customers (when the kernel demo exists): their age, occupation,
    income, KYC and consent come from the customer record; the first farmers of each bank are put on
    the whole-village white list (maker-checker) so some applications are approved end to end."""
    from jikuai.customers.models import Customer
    from riskrules.services.decisions import decision_make
    from riskrules.services.lists import list_entry_check, list_entry_create

    made = 0
    institutions = Customer.objects.filter(is_demo=True).values_list("institution_id", flat=True).distinct()
    for institution_id in sorted(set(institutions)):
        customers = list(Customer.objects.filter(is_demo=True, institution_id=institution_id).order_by("id")[:per_institution])
        for index, customer in enumerate(customers):
            if customer.occupation not in PRODUCT_BY_OCCUPATION:
                continue
            ruleset_code, extra = PRODUCT_BY_OCCUPATION[customer.occupation]
            subject_id = f"DEMO-C{customer.pk}"
            if DecisionRecord.objects.filter(subject_kind="application", subject_id=subject_id).exists():
                continue
            if customer.occupation == "farmer" and index % 3 != 2:
                exists = ListEntry.objects.filter(
                    key_index=customer.id_number_index, list_kind="white", institution_id=institution_id
                ).exists()
                if not exists:
                    entry = list_entry_create(
                        maker=maker,
                        list_kind="white",
                        key_type="id_number",
                        key_value=customer.id_number,
                        reason_code="LIST_VILLAGE_CREDIT",
                        source="whole_village",
                        valid_from=dt.date(2025, 1, 1),
                        institution=customer.institution,
                        note="演示：整村授信白名单",
                    )
                    list_entry_check(entry_id=entry.pk, checker=checker, approve=True)
            income = int(customer.monthly_income * 100)
            inputs = {
                "monthly_debt_fen": income * 25 // 100,
                "current_overdue_count": 0,
                "past_overdue_times_24m": index % 3,
                "deposit_avg_6m_fen": [600_000, 2_500_000, 6_000_000][index % 3],
                "household_appraisal": ["excellent", "good", "fair"][index % 3],
                "employment_years": 3 + index,
                "whitelist_limit_fen": [10_000_000, 20_000_000, 30_000_000][index % 3],
                **extra,
            }
            with transaction.atomic():
                decision_make(
                    ruleset_code=ruleset_code,
                    subject=Subject(kind="application", id=subject_id, customer_id=customer.pk),
                    inputs=inputs,
                    source=DEMO_SOURCE,
                )
            made += 1
    return made


def _seed_lists(applicants, maker, checker) -> int:
    """White-list the first demo farmers (whole-village pre-credit), black-list one (court list)."""
    farmers = [a for a in applicants if a["ruleset_code"] == "jnkd_credit"]
    wanted = [(a, "white", "whole_village", "LIST_VILLAGE_CREDIT") for a in farmers[:7]]
    wanted += [(farmers[7], "black", "court_dishonest", "LIST_COURT"), (farmers[8], "grey", "manual", "LIST_MANUAL")]
    created = 0
    for applicant, kind, source, reason in wanted:
        index = id_number_index(applicant["inputs"]["id_number"])
        if ListEntry.objects.filter(key_index=index, list_kind=kind, institution__isnull=True).exists():
            continue
        from riskrules.services.lists import list_entry_check, list_entry_create

        entry = list_entry_create(
            maker=maker,
            list_kind=kind,
            key_type="id_number",
            key_value=applicant["inputs"]["id_number"],
            reason_code=reason,
            source=source,
            valid_from=dt.date(2025, 1, 1),
            note="演示数据",
        )
        list_entry_check(entry_id=entry.pk, checker=checker, approve=True, comment="演示数据复核")
        created += 1
    return created
