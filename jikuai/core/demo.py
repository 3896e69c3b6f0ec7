"""Demo data for the kernel: the provincial union, the five pilot banks of the case, branches, staff in
every role, regions of the pilot area, a few hundred customers, two web customers and an integrator.

Idempotent: everything is looked up by a natural key first. Towns and villages are invented and marked
``is_demo``; the province/city/county codes are the real GB/T 2260 codes.
"""

import datetime as dt
import random
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.db import transaction

from jikuai.api.models import IntegratorClient
from jikuai.core.idnumber import generate_id_number
from jikuai.core.workdays import business_date_set
from jikuai.customers import services as customer_services
from jikuai.customers.models import Customer, Household, HouseholdMember, Region
from jikuai.org import roles
from jikuai.org.models import Branch, Institution, Staff, User

DEMO_PASSWORD = "Jikuai@2026"  # noqa: S105 (published demo credential, local use only)
DEMO_APP_ID = "jkdemo00000000001"
DEMO_APP_SECRET = "demo-secret-local-only-0001"  # noqa: S105 (published demo credential, local use only)
DEMO_CUSTOMER_MOBILES = ("13800000001", "13800000002")

REAL_REGIONS = [
    ("22", "吉林省", 1, None),
    ("2201", "长春市", 2, "22"),
    ("220182", "榆树市", 3, "2201"),
    ("2203", "四平市", 2, "22"),
    ("220323", "伊通满族自治县", 3, "2203"),
    ("2224", "延边朝鲜族自治州", 2, "22"),
    ("222401", "延吉市", 3, "2224"),
    ("222403", "敦化市", 3, "2224"),
    ("222424", "汪清县", 3, "2224"),
]

# invented towns and villages (marked is_demo) under each pilot county
DEMO_TOWNS = {
    "220182": [("大岭镇", ["东岭村", "西岭村", "前进村"]), ("五棵树镇", ["双井村", "兴隆村"])],
    "220323": [("营城子镇", ["满族村", "河源村"]), ("景台镇", ["景台村", "新安村"])],
    "222401": [("依兰镇", ["春兴村", "光东村"]), ("三道湾镇", ["长安村", "太阳村"])],
    "222403": [("江源镇", ["江源村", "红石村"]), ("大石头镇", ["林场村", "和平村"])],
    "222424": [("汪清镇", ["东光村", "新民村"]), ("百草沟镇", ["百草村", "鸡冠村"])],
}


@dataclass(frozen=True)
class DemoBank:
    code: str
    name: str
    short: str
    county: str
    prefix: str
    branches: tuple[tuple[str, str, str], ...]


BANKS = [
    DemoBank(
        "YSRCB",
        "榆树农村商业银行",
        "榆树农商行",
        "220182",
        "ys",
        (("YS01", "营业部", "large"), ("YS02", "大岭支行", "medium"), ("YS03", "五棵树支行", "small")),
    ),
    DemoBank(
        "YBRCB",
        "延边农村商业银行",
        "延边农商行",
        "222401",
        "yb",
        (("YB01", "营业部", "large"), ("YB02", "依兰支行", "medium"), ("YB03", "三道湾支行", "small")),
    ),
    DemoBank(
        "DHRCB",
        "敦化农村商业银行",
        "敦化农商行",
        "222403",
        "dh",
        (("DH01", "营业部", "large"), ("DH02", "江源支行", "medium"), ("DH03", "大石头支行", "small")),
    ),
    DemoBank(
        "WQRCB",
        "汪清农村商业银行",
        "汪清农商行",
        "222424",
        "wq",
        (("WQ01", "营业部", "large"), ("WQ02", "汪清镇支行", "medium"), ("WQ03", "百草沟支行", "small")),
    ),
    DemoBank(
        "YTRCU",
        "伊通满族自治县农村信用合作联社",
        "伊通联社",
        "220323",
        "yt",
        (("YT01", "营业部", "large"), ("YT02", "营城子信用社", "medium"), ("YT03", "景台信用社", "small")),
    ),
]

# (username suffix, role, branch index or None, display name, rank)
STAFF_PLAN = [
    ("admin", roles.INSTITUTION_ADMIN, None, "管理员", Staff.Rank.MANAGER),
    ("manager", roles.BRANCH_MANAGER, 0, "行长", Staff.Rank.MANAGER),
    ("manager2", roles.BRANCH_MANAGER, 1, "行长", Staff.Rank.MANAGER),
    ("am1", roles.ACCOUNT_MANAGER, 0, "客户经理一", Staff.Rank.SENIOR),
    ("am2", roles.ACCOUNT_MANAGER, 1, "客户经理二", Staff.Rank.INTERMEDIATE),
    ("am3", roles.ACCOUNT_MANAGER, 2, "客户经理三", Staff.Rank.JUNIOR),
    ("reviewer", roles.CREDIT_REVIEWER, 0, "审批员", Staff.Rank.SENIOR),
    ("reviewer2", roles.CREDIT_REVIEWER, 0, "审批员二", Staff.Rank.PRINCIPAL),
    ("risk", roles.RISK_OFFICER, None, "风险管理员", Staff.Rank.SENIOR),
    ("risk2", roles.RISK_OFFICER, None, "风险管理员二", Staff.Rank.SENIOR),
    ("ops", roles.OPERATIONS, None, "运营", Staff.Rank.INTERMEDIATE),
    ("ops2", roles.OPERATIONS, None, "运营二", Staff.Rank.INTERMEDIATE),
    ("merchant", roles.MERCHANT_OPS, None, "商户管理员", Staff.Rank.INTERMEDIATE),
]

NOTIFIED_ROLES = (roles.BRANCH_MANAGER, roles.CREDIT_REVIEWER, roles.RISK_OFFICER)

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗金崔朴"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀兰",
    "霞",
    "平",
    "刚",
    "桂英",
    "玉兰",
    "春梅",
    "海燕",
    "建国",
    "志强",
    "凤霞",
    "德胜",
]
OCCUPATION_MIX = [
    (Customer.Occupation.FARMER, 55, "", (1500, 6000)),
    (Customer.Occupation.TEACHER, 10, "{county}第一中学", (4500, 9000)),
    (Customer.Occupation.CIVIL_SERVANT, 10, "{county}人民政府", (5000, 10000)),
    (Customer.Occupation.EMPLOYEE, 10, "吉林亚泰集团", (4000, 12000)),
    (Customer.Occupation.INDIVIDUAL_BUSINESS, 10, "", (3000, 20000)),
    (Customer.Occupation.MICRO_BUSINESS_OWNER, 5, "", (8000, 40000)),
]


def seed_regions() -> dict[str, list[Region]]:
    by_code = {}
    for code, name, level, parent in REAL_REGIONS:
        region, _ = Region.objects.update_or_create(
            code=code, defaults={"name": name, "level": level, "parent": by_code.get(parent), "is_demo": False}
        )
        by_code[code] = region
    villages: dict[str, list[Region]] = {}
    for county, towns in DEMO_TOWNS.items():
        villages[county] = []
        for t_index, (town_name, village_names) in enumerate(towns, start=1):
            town, _ = Region.objects.update_or_create(
                code=f"{county}{100 + t_index:03d}",
                defaults={"name": town_name, "level": Region.Level.TOWN, "parent": by_code[county], "is_demo": True},
            )
            for v_index, village_name in enumerate(village_names, start=1):
                village, _ = Region.objects.update_or_create(
                    code=f"{town.code}{200 + v_index:03d}",
                    defaults={"name": village_name, "level": Region.Level.VILLAGE, "parent": town, "is_demo": True},
                )
                villages[county].append(village)
    return villages


def _user(username: str, *, superuser: bool = False) -> User:
    user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True, "is_superuser": superuser})
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    return user


def seed_staff(bank: DemoBank, institution: Institution, branches: list[Branch]) -> dict[str, Staff]:
    staff = {}
    for index, (suffix, role, branch_index, display, rank) in enumerate(STAFF_PLAN, start=1):
        user = _user(f"{bank.prefix}_{suffix}")
        user.groups.add(Group.objects.get(name=role))
        member, _ = Staff.objects.get_or_create(
            user=user,
            defaults={
                "institution": institution,
                "branch": branches[branch_index] if branch_index is not None else None,
                "employee_no": f"{bank.code}{index:03d}",
                "name": f"{bank.short[:2]}{display}",
                "rank": rank,
                "referral_code": f"S{bank.prefix.upper()}{index:03d}",
                # 170 numbers (virtual operators) for the demo: escalated review tasks page these roles
                "mobile": f"1700000{BANKS.index(bank)}{index:03d}" if role in NOTIFIED_ROLES else "",
            },
        )
        staff[suffix] = member
    return staff


def seed_customers(
    bank: DemoBank,
    institution: Institution,
    branches: list[Branch],
    staff: dict[str, Staff],
    villages: list[Region],
    *,
    count: int,
    rng: random.Random,
    today: dt.date,
) -> list[Customer]:
    managers = [staff["am1"], staff["am2"], staff["am3"]]
    customers = []
    weights = [w for _, w, _, _ in OCCUPATION_MIX]
    county_name = Region.objects.get(code=bank.county).name
    for n in range(count):
        occupation, _, employer, (low, high) = rng.choices(OCCUPATION_MIX, weights=weights)[0]
        age = rng.randint(23, 58)
        birth = dt.date(today.year - age, rng.randint(1, 12), rng.randint(1, 28))
        gender = rng.choice("MF")
        id_number = generate_id_number(region_code=bank.county, birth_date=birth, gender=gender, sequence=n, rng=rng)
        # draw every random value before the existence check so a rerun follows the same sequence
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        mobile = f"139{rng.randint(0, 99_999_999):08d}"
        house_no = rng.randint(1, 99)
        income = str(rng.randrange(low, high, 100))
        existing = customer_services.customer_find_by_id_number(institution=institution, id_number=id_number).first()
        if existing:
            customers.append(existing)
            continue
        manager = managers[n % 3]
        village = villages[n % len(villages)]
        customers.append(
            customer_services.customer_create(
                institution=institution,
                branch=manager.branch,
                account_manager=manager,
                name=name,
                id_number=id_number,
                mobile=mobile,
                address=f"吉林省{county_name}{village.parent.name}{village.name}{house_no}号",
                region=village,
                occupation=occupation,
                employer=employer.format(county=county_name),
                monthly_income=income,
                channel=Customer.Channel.BATCH,
                is_demo=True,
                today=today,
            )
        )
    return customers


def seed_households(institution: Institution, customers: list[Customer]) -> None:
    farmers = [c for c in customers if c.occupation == Customer.Occupation.FARMER and c.region_id]
    for index in range(0, len(farmers) - 1, 2):
        head, spouse = farmers[index], farmers[index + 1]
        household, created = Household.objects.get_or_create(
            institution=institution,
            household_no=f"{institution.code}-H{index // 2 + 1:04d}",
            defaults={
                "branch": head.branch,
                "village": head.region,
                "head": head,
                "account_manager": head.account_manager,
                "is_demo": True,
            },
        )
        if created:
            HouseholdMember.objects.create(
                household=household, customer=head, name=head.name, relation=HouseholdMember.Relation.HEAD
            )
            HouseholdMember.objects.create(
                household=household, customer=spouse, name=spouse.name, relation=HouseholdMember.Relation.SPOUSE
            )


def seed_web_customers(
    institution: Institution, staff: dict[str, Staff], villages: list[Region], today: dt.date
) -> list[Customer]:
    people = [
        ("王秀英", dt.date(1986, 3, 14), "F", Customer.Occupation.TEACHER, "榆树市第一中学", "7200"),
        ("李建国", dt.date(1979, 9, 2), "M", Customer.Occupation.FARMER, "", "4200"),
    ]
    result = []
    for (name, birth, gender, occupation, employer, income), mobile in zip(people, DEMO_CUSTOMER_MOBILES, strict=True):
        id_number = generate_id_number(region_code="220182", birth_date=birth, gender=gender, sequence=7)
        customer = customer_services.customer_find_by_id_number(institution=institution, id_number=id_number).first()
        if customer is None:
            customer = customer_services.customer_create(
                institution=institution,
                branch=staff["am1"].branch,
                account_manager=staff["am1"],
                name=name,
                id_number=id_number,
                mobile=mobile,
                address="吉林省榆树市大岭镇东岭村8号",
                region=villages[0],
                occupation=occupation,
                employer=employer,
                monthly_income=income,
                channel=Customer.Channel.WEB,
                password=DEMO_PASSWORD,
                is_demo=True,
                today=today,
            )
            customer_services.consent_grant(customer=customer, purpose="personal_info", text_version="2026.1", channel="web")
            customer_services.consent_grant(customer=customer, purpose="credit_report", text_version="2026.1", channel="web")
        result.append(customer)
    return result


def seed_integrator(institution: Institution) -> IntegratorClient:
    client = IntegratorClient.objects.filter(app_id=DEMO_APP_ID).first()
    if client is None:
        client = IntegratorClient(
            institution=institution, name="演示核心系统 demo core banking", app_id=DEMO_APP_ID, scopes=["*"]
        )
        client.secret = DEMO_APP_SECRET
        client.save()
    return client


@transaction.atomic
def seed_kernel(*, customers_per_bank: int = 60, today: dt.date | None = None) -> dict:
    today = today or dt.date.today()
    rng = random.Random(20261129)
    villages = seed_regions()
    province_admin = _user("province_admin")
    province_admin.groups.add(Group.objects.get(name=roles.PROVINCE_ADMIN))
    Staff.objects.get_or_create(user=province_admin, defaults={"employee_no": "JLNX001", "name": "省联社管理员"})
    admin = _user("admin", superuser=True)
    Staff.objects.get_or_create(user=admin, defaults={"employee_no": "JLNX000", "name": "系统管理员"})
    summary = {}
    for bank in BANKS:
        institution, _ = Institution.objects.update_or_create(
            code=bank.code, defaults={"name": bank.name, "short_name": bank.short, "region_code": bank.county}
        )
        branches = []
        for code, name, size in bank.branches:
            branch, _ = Branch.objects.update_or_create(
                institution=institution, code=code, defaults={"name": name, "region_code": bank.county, "size_group": size}
            )
            branches.append(branch)
        staff = seed_staff(bank, institution, branches)
        customers = seed_customers(
            bank, institution, branches, staff, villages[bank.county], count=customers_per_bank, rng=rng, today=today
        )
        seed_households(institution, customers)
        if bank.code == "YSRCB":
            seed_web_customers(institution, staff, villages[bank.county], today)
            seed_integrator(institution)
        summary[bank.code] = len(customers)
    from jikuai.core.models import BusinessDate

    if not BusinessDate.objects.exists():
        business_date_set(day=today)
    return summary
