"""Customer sessions: kept under their own session key, never mixed with staff (admin) logins."""

from django.utils.functional import SimpleLazyObject

CUSTOMER_SESSION_KEY = "_jikuai_customer_id"
CUSTOMER_SESSION_VERSION_KEY = "_jikuai_customer_pwd"


def _load_customer(request):
    from jikuai.customers.models import Customer

    customer_id = request.session.get(CUSTOMER_SESSION_KEY)
    if not customer_id:
        return None
    customer = Customer.objects.filter(pk=customer_id, web_enabled=True).first()
    # a password change ends every other session of the customer
    if customer is None or request.session.get(CUSTOMER_SESSION_VERSION_KEY) != customer.password[-16:]:
        return None
    return customer


class CustomerMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.customer = SimpleLazyObject(lambda: _load_customer(request))
        return self.get_response(request)
