"""fly.io asks /healthz whether a machine can serve, over HTTP, with its private IP as Host."""

from http import HTTPStatus

import httpx
import pytest
from django.test import Client

from tests.conftest import app_environment
from tests.environment import redis_server
from tests.servers import AppServer, free_port

pytestmark = pytest.mark.django_db


def test_healthz_answers_fly_checker_over_plain_http_with_an_ip_as_host():
    checker = Client(headers={"Host": "172.19.4.2:8000"})

    response = checker.get("/healthz")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"database": "ok", "cache": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_healthz_says_503_when_redis_is_down():
    redis_server.stop()
    try:
        response = Client().get("/healthz")
    finally:
        redis_server.start()

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {"database": "ok", "cache": "unavailable"}


def test_healthz_says_503_when_the_database_does_not_answer(transactional_db):
    port = free_port()
    closed_port = free_port()
    env = app_environment(port, DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port}/x")
    app = AppServer(env, port=port).start()
    try:
        response = httpx.get(f"{app.origin}/healthz", timeout=10)
    finally:
        app.stop()

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {"database": "unavailable", "cache": "ok"}


def test_other_pages_still_refuse_unknown_hosts():
    response = Client(headers={"Host": "172.19.4.2:8000", "X-Forwarded-Proto": "https"}).get("/")

    assert response.status_code == HTTPStatus.BAD_REQUEST
