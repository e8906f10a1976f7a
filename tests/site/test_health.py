"""fly.io asks /healthz whether a machine can serve, over HTTP, with its private IP as Host."""

import time
from datetime import timedelta
from http import HTTPStatus

import httpx
import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from harness.servers import free_port
from tests.environment import redis_server
from tests.helpers import our_app

pytestmark = pytest.mark.django_db


def fly_checker() -> Client:
    return Client(headers={"Host": "172.19.4.2:8000"})  # plain HTTP, the machine's private IP


def test_healthz_answers_fly_checker_over_plain_http_with_an_ip_as_host():
    response = fly_checker().get("/healthz")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"database": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_with_redis_down_fly_keeps_routing_and_the_full_view_says_why_links_stop():
    redis_server.stop()
    try:
        checked = fly_checker().get("/healthz")
        full = fly_checker().get("/healthz/full")
    finally:
        redis_server.start()

    assert checked.status_code == HTTPStatus.OK
    assert full.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert full.json() == {
        "database": "ok",
        "cache": "unavailable",
        "eviction": "unknown",
        "mail": "ok",
    }


def test_the_full_view_warns_when_redis_may_evict_rate_limit_counters():
    redis = cache.client.get_client()
    assert fly_checker().get("/healthz/full").json()["eviction"] == "off"
    redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        full = fly_checker().get("/healthz/full")
    finally:
        redis.config_set("maxmemory-policy", "noeviction")

    assert full.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert full.json()["eviction"] == "allkeys-lru"


@pytest.mark.system
def test_healthz_fails_when_the_database_does_not_answer(transactional_db):
    closed_port = free_port()
    app = our_app(DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port}/x")
    try:
        started = time.monotonic()
        response = httpx.get(f"{app.origin}/healthz", timeout=10)
        elapsed = time.monotonic() - started
    finally:
        app.stop()

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {"database": "unavailable"}
    assert elapsed < 5  # within fly's 5 s check timeout


def test_other_pages_still_refuse_unknown_hosts():
    response = Client(headers={"Host": "172.19.4.2:8000", "X-Forwarded-Proto": "https"}).get("/")

    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_the_full_view_says_when_sign_in_mail_is_not_leaving(settings, client, alice):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    client.post("/", {"email": "alice@example.com"})  # queued, and no process sends it

    # Past a minute: a sweep may still be on its way (MAIL_SWEEP_SECONDS).
    with time_machine.travel(timezone.now() + timedelta(seconds=90)):
        soon = fly_checker().get("/healthz/full")
    with time_machine.travel(timezone.now() + timedelta(minutes=4)):
        later = fly_checker().get("/healthz/full")
        checked = fly_checker().get("/healthz")

    assert (soon.status_code, soon.json()["mail"]) == (HTTPStatus.OK, "ok")
    assert (later.status_code, later.json()["mail"]) == (HTTPStatus.SERVICE_UNAVAILABLE, "waiting")
    assert checked.status_code == HTTPStatus.OK  # fly keeps routing: people can still sign in
