"""Each step of django-allauth's login by code, in-process: `python -m bench.reference_steps`.

The reference's side of `python -m bench.steps`: the same stack (its own, started here: a real
redis-server, PostgreSQL and SMTP server), the same columns, the project in
bench/allauth_reference/ with its mail in plain SMTP (REFERENCE_PLAIN_SMTP, the reference the
targets are hardest against). Read the two tables side by side, step by step.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from bench.signin import start_stack
from bench.stepping import Steps, stop_servers
from harness.servers import ROOT

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
    from django.test import Client

    step = Steps(stack)
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
        step.samples.clear()
        for n in range(WARM_UP, WARM_UP + SIGN_INS):
            sign_in(n)
        step.report(f"PostgreSQL, {SIGN_INS} allauth logins by code")
    finally:
        stop_servers(stack)


if __name__ == "__main__":
    main()
