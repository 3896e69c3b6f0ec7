"""Encrypted model field: stores SM4-GCM ciphertext, gives the plaintext to Python code.

Searching is never done on this column (it is randomised); use the blind index column next to it.
"""

from django.db import models

from jikuai.core import crypto


class EncryptedTextField(models.TextField):
    def __init__(self, *args, purpose: str = "", **kwargs):
        self.purpose = purpose
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["purpose"] = self.purpose
        return name, path, args, kwargs

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return crypto.decrypt(value, purpose=self.purpose)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        if value.startswith(crypto.PREFIX + ":"):
            return value
        return crypto.encrypt(value, purpose=self.purpose)
