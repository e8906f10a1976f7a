"""Each step of django-allauth's login by code, in-process: `python -m bench.reference_steps`.

The reference's side of `python -m bench.steps`: the same stack (its own, started here: a real
redis-server, PostgreSQL and SMTP server), the same columns, the project in
bench/allauth_reference/ with its mail in plain SMTP (REFERENCE_PLAIN_SMTP, the reference the
targets are hardest against). Read the two tables side by side, step by step.
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from bench.signin import start_stack
from harness.servers import ROOT, remove_scratch

SIGN_INS = 200
WARM_UP = 5


def main() -> None:
    stack = start_stack("postgresql", Path(tempfile.mkdtemp(prefix="reference-steps-")))
    admin = f"host=127.0.0.1 port={stack.postgres.port} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute("CREATE DATABASE reference_steps")
    env = {
        **{k: v for k, v in stack.env.items() if k != "PORT"},
        "DJANGO_SETTINGS_MODULE": "bench.allauth_reference.settings",
        "DATABASE_URL": stack.database_url.rsplit("/", 1)[0] + "/reference_steps",
        "REDIS_URL": stack.redis.url.rsplit("/", 1)[0] + "/1",
        "REFERENCE_PLAIN_SMTP": "1",
    }
    count = str(SIGN_INS + WARM_UP)
    prepare = [sys.executable, "-m", "bench.allauth_reference.prepare", count]
    subprocess.run(prepare, cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django_redis import get_redis_connection

    redis = get_redis_connection("default")
    steps: dict[str, list[tuple[float, int, int, float]]] = {}

    def redis_calls() -> int:
        return sum(stats["calls"] for stats in redis.info("commandstats").values())

    def step(name: str, action):
        redis_before = redis_calls()
        postgres_before = stack.infrastructure_cpu_seconds()[0]
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as queries:
            started = time.thread_time()
            response = action()
            cpu = time.thread_time() - started
        postgres = stack.infrastructure_cpu_seconds()[0] - postgres_before
        commands = redis_calls() - redis_before - 1
        steps.setdefault(name, []).append((cpu, len(queries), commands, postgres))
        return response

    client = Client(headers={"X-Forwarded-Proto": "https", "Host": "127.0.0.1"})

    def sign_in(n: int) -> None:
        address = f"r{n}@bench.example.com"
        client.cookies.clear()
        step("1. request page (GET)", lambda: client.get("/accounts/login/code/"))
        asked = step(
            "2. ask, mail inline (POST)",
            lambda: client.post("/accounts/login/code/", {"email": address}),
        )
        step("2b. confirm page (GET)", lambda: client.get(asked["Location"]))
        message = stack.smtp.mailbox.message_to(address, timeout=30)
        text = message.get_body(preferencelist=("plain",)).get_content()
        code = re.search(r"^([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", text, re.MULTILINE).group(1)
        typed = step(
            "4. type the code (POST)",
            lambda: client.post("/accounts/login/code/confirm/", {"code": code}),
        )
        assert typed.status_code == 302, typed.status_code
        shown = step("5. a page signed in (GET)", lambda: client.get("/hello/"))
        assert address in shown.content.decode()

    try:
        for n in range(WARM_UP):
            sign_in(n)
        steps.clear()
        for n in range(WARM_UP, WARM_UP + SIGN_INS):
            sign_in(n)
        print(f"PostgreSQL, {SIGN_INS} allauth logins by code, median per step (this thread):")
        print(f"{'step':42} {'CPU ms':>7} {'SQL':>4} {'Redis':>6} {'PostgreSQL ms':>14}")
        total = total_postgres = 0.0
        for name, samples in steps.items():
            cpu = statistics.median(s[0] for s in samples) * 1000
            postgres = statistics.mean(s[3] for s in samples) * 1000
            total, total_postgres = total + cpu, total_postgres + postgres
            sql, commands = samples[-1][1], samples[-1][2]
            print(f"{name:42} {cpu:7.2f} {sql:4d} {commands:6d} {postgres:14.2f}")
        print(f"{'whole sign-in':42} {total:7.2f} {'':4} {'':6} {total_postgres:14.2f}")
    finally:
        stack.smtp.stop()
        stack.redis.stop()
        stack.postgres.stop()
        remove_scratch()


if __name__ == "__main__":
    main()
