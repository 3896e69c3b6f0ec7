"""Kernel factories shared by every app's tests (institutions, branches, staff with roles, customers,
integrator clients) and a signed API client for the Django test client."""

import datetime as dt
import json
import random

import factory
from django.contrib.auth.models import Group

from jikuai.api.models import IntegratorClient
from jikuai.api.signing import signed_headers
from jikuai.core.idnumber import generate_id_number
from jikuai.customers import services as customer_services
from jikuai.customers.models import Customer, Region
from jikuai.org.models import Branch, Institution, Staff, User

_rng = random.Random(20261129)


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"I{n:04d}")
    name = factory.Sequence(lambda n: f"测试农商行{n}")
    short_name = factory.LazyAttribute(lambda o: o.name[:6])
    region_code = "220182"


class BranchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Branch

    institution = factory.SubFactory(InstitutionFactory)
    code = factory.Sequence(lambda n: f"B{n:04d}")
    name = factory.Sequence(lambda n: f"测试支行{n}")


def make_staff(
    *,
    role: str | None,
    institution: Institution | None = None,
    branch: Branch | None = None,
    username: str | None = None,
    password: str = "Passw0rd!2026",
    name: str = "测试员工",
    superuser: bool = False,
) -> Staff:
    """A staff member with a login user in ``role`` (a role group name from jikuai.org.roles)."""
    n = User.objects.count() + 1
    username = username or f"staff{n}_{_rng.randrange(10**6)}"
    user = User.objects.create_user(username=username, password=password, is_staff=True, is_superuser=superuser)
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    if branch is not None and institution is None:
        institution = branch.institution
    return Staff.objects.create(
        user=user, institution=institution, branch=branch, employee_no=f"E{n:05d}{_rng.randrange(1000):03d}", name=name
    )


def new_id_number(*, age: int = 35, gender: str | None = None, region_code: str = "220182", today: dt.date | None = None) -> str:
    today = today or dt.date.today()
    birth = dt.date(today.year - age, _rng.randint(1, 12), _rng.randint(1, 28))
    if birth > today.replace(year=today.year - age):
        birth = birth.replace(year=birth.year - 1)
    return generate_id_number(region_code=region_code, birth_date=birth, gender=gender or _rng.choice("MF"), rng=_rng)


def new_mobile() -> str:
    return f"13{_rng.randint(0, 9)}{_rng.randint(0, 99_999_999):08d}"


def make_customer(
    *,
    institution: Institution | None = None,
    branch: Branch | None = None,
    account_manager: Staff | None = None,
    name: str = "张三",
    id_number: str | None = None,
    mobile: str | None = None,
    password: str | None = None,
    occupation: str = Customer.Occupation.FARMER,
    monthly_income="5000",
    region: Region | None = None,
    age: int = 35,
    **extra,
) -> Customer:
    if institution is None:
        institution = branch.institution if branch else InstitutionFactory()
    return customer_services.customer_create(
        institution=institution,
        branch=branch,
        account_manager=account_manager,
        name=name,
        id_number=id_number or new_id_number(age=age),
        mobile=mobile or new_mobile(),
        password=password,
        occupation=occupation,
        monthly_income=monthly_income,
        region=region,
        **extra,
    )


def make_client(
    *,
    institution: Institution | None = None,
    scopes=("*",),
    secret: str = "test-secret-0123456789abcdef",
    allowed_ips=(),
    is_active: bool = True,
) -> IntegratorClient:
    client = IntegratorClient(
        institution=institution or InstitutionFactory(),
        name="测试接入方",
        scopes=list(scopes),
        allowed_ips=list(allowed_ips),
        is_active=is_active,
    )
    client.secret = secret
    client.save()
    return client


class SignedApi:
    """Sends signed requests through Django's test client: ``api.get(path)``, ``api.post(path, data, key=...)``."""

    def __init__(self, django_client, integrator: IntegratorClient):
        self.client = django_client
        self.integrator = integrator

    def _headers(self, method, path, query, body, **overrides):
        headers = signed_headers(self.integrator.app_id, self.integrator.secret, method, path, query, body, **overrides)
        return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}

    def get(self, path: str, query: str = "", **overrides):
        meta = self._headers("GET", path, query, b"", **overrides)
        return self.client.get(path + (f"?{query}" if query else ""), **meta)

    def post(self, path: str, data=None, *, key: str | None = "k-1", raw: bytes | None = None, **overrides):
        body = raw if raw is not None else json.dumps(data or {}, ensure_ascii=False).encode("utf-8")
        meta = self._headers("POST", path, "", body, **overrides)
        if key is not None:
            meta["HTTP_IDEMPOTENCY_KEY"] = key
        return self.client.generic("POST", path, body, content_type="application/json", **meta)
