from django.conf import settings


def site(request):
    customer = getattr(request, "customer", None)
    return {
        "site_name": "吉快金融",
        "current_customer": customer if customer else None,
        "debug": settings.DEBUG,
        "otp_minutes": max(1, settings.OTP_TTL_SECONDS // 60),
    }
