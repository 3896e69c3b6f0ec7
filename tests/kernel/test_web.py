"""Site shell pages that need no login."""

import pytest


@pytest.mark.django_db
def test_version_is_plain_json_without_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/version.json")
    assert response.status_code == 200
    assert response.json()["service"] == "jikuai" and response.json()["version"]
