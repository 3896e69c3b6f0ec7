"""OpenAPI description of the request-signature scheme (drf-spectacular extension)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class SignatureAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "jikuai.api.auth.SignatureAuthentication"
    name = "JikuaiSignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Signature",
            "description": (
                "Headers X-App-Id, X-Timestamp (Unix seconds, ±5 min), X-Nonce (8-64 chars, single use) and "
                "X-Signature = hex HMAC-SHA256(secret, METHOD\\nPATH\\nSORTED_QUERY\\nTIMESTAMP\\nNONCE\\nSHA256(body)). "
                "POST requests also need an Idempotency-Key header. See jikuai/api/signing.py and jikuai/api/client.py."
            ),
        }
