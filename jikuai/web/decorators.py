"""Access decorators for customer pages and staff field pages."""

from functools import wraps
from urllib.parse import urlencode

from django.http import HttpResponseRedirect
from django.urls import reverse


def customer_required(view):
    """The page needs a logged-in customer; anonymous visitors go to the customer login page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.customer:
            return HttpResponseRedirect(f"{reverse('web:login')}?{urlencode({'next': request.get_full_path()})}")
        return view(request, *args, **kwargs)

    return wrapper


def staff_required(view):
    """The page needs an active staff login (admin credentials); customers' sessions do not count."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return HttpResponseRedirect(f"{reverse('admin:login')}?{urlencode({'next': request.get_full_path()})}")
        return view(request, *args, **kwargs)

    return wrapper
