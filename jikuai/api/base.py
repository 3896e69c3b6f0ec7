"""Base classes for every integrator endpoint: signed, scoped, JSON only, idempotent POSTs."""

from rest_framework import generics
from rest_framework.views import APIView

from jikuai.api.idempotency import IdempotentPostMixin


class IntegratorAPIView(IdempotentPostMixin, APIView):
    required_scopes: tuple | dict = ()

    @property
    def client(self):
        return self.request.auth

    @property
    def institution(self):
        return self.request.auth.institution


class IntegratorGenericAPIView(IdempotentPostMixin, generics.GenericAPIView):
    required_scopes: tuple | dict = ()

    @property
    def client(self):
        return self.request.auth

    @property
    def institution(self):
        return self.request.auth.institution
