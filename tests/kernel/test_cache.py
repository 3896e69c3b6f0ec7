"""The Redis cache backend reuses one client per connection pool (Django's builds one per call)."""

import uuid

import pytest
from django.conf import settings

from jikuai.core.cache import RedisCache


@pytest.fixture
def redis_cache():
    url = settings.REDIS_URL or "redis://127.0.0.1:6379/15"  # the machine's Redis when the suite runs without it
    return RedisCache(url, {"KEY_PREFIX": f"cache-test-{uuid.uuid4().hex[:8]}"})


def test_one_client_serves_every_operation_and_values_round_trip(redis_cache):
    client = redis_cache._cache.get_client(write=True)
    assert redis_cache._cache.get_client() is client and redis_cache._cache.get_client(write=True) is client
    assert redis_cache.add("k", {"n": 1}, 30) is True
    assert redis_cache.add("k", {"n": 2}, 30) is False  # add is still SET NX
    assert redis_cache.get("k") == {"n": 1}
    redis_cache.set("k", [1, 2], 30)
    assert redis_cache.get("k") == [1, 2]
    redis_cache.delete("k")
    assert redis_cache.get("k", "gone") == "gone"
