"""The reference beside Latchkey's numbers: django-allauth's login by code
(bench/allauth_reference/), on the same stack, started and driven as Latchkey is. Its costs
divide Latchkey's."""

import http.client
import re
import subprocess
import sys
import threading
import time

from harness.servers import ROOT, stop_process

ACCOUNTS = 20_000  # more than a run signs in, each once


class Reference:
    """Its gunicorn, on a database of its own in the stack's PostgreSQL and Redis's db 1."""

    def __init__(self, stack, port: int, pin, plain_smtp: bool = False) -> None:
        import psycopg

        database = "reference_plain" if plain_smtp else "reference"
        with psycopg.connect(
            f"host=127.0.0.1 port={stack.postgres.port} user=postgres dbname=postgres",
            autocommit=True,
        ) as connection:
            connection.execute(f"CREATE DATABASE {database}")
        self.stack, self.port, self.pin = stack, port, pin
        self.env = {
            **stack.env,
            "DJANGO_SETTINGS_MODULE": "bench.allauth_reference.settings",
            "DATABASE_URL": stack.database_url.rsplit("/", 1)[0] + "/" + database,
            **({"REFERENCE_PLAIN_SMTP": "1"} if plain_smtp else {}),
            "REDIS_URL": stack.redis.url.rsplit("/", 1)[0] + "/1",
            "PORT": str(port),
        }
        subprocess.run(
            [sys.executable, "-m", "bench.allauth_reference.prepare", str(ACCOUNTS)],
            cwd=ROOT,
            env=self.env,
            check=True,
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "config/gunicorn.py",
                "django.core.wsgi:get_wsgi_application()",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=pin,  # noqa: PLW1509 - a plain affinity call
        )
        self._wait_until_it_answers()

    def _wait_until_it_answers(self) -> None:
        started = time.perf_counter()
        while time.perf_counter() - started < 60:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request(
                    "GET", "/accounts/login/code/", headers={"X-Forwarded-Proto": "https"}
                )
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError("the reference did not answer within 60 s")

    def worker_pids(self) -> list[int]:
        children = f"/proc/{self.process.pid}/task/{self.process.pid}/children"
        with open(children) as file:
            return [int(pid) for pid in file.read().split()]

    def server_cpu_seconds(self) -> float:
        from bench.signin import cpu_seconds

        return cpu_seconds(self.worker_pids())

    def infrastructure_cpu_seconds(self) -> tuple[float, float]:
        return self.stack.infrastructure_cpu_seconds()

    def wait_for_the_mail_queue(self) -> None:
        """Nothing to wait for: allauth sends inside the request."""

    def stop(self) -> None:
        stop_process(self.process)


class AllauthCodeSignIn:
    name = "reference: django-allauth login by code (5 requests + SMTP, mail inline)"
    requests_per_op = 5

    def __init__(self, stack, plain_smtp: bool = False) -> None:
        if plain_smtp:
            self.name = "reference, mail in plain SMTP (no STARTTLS: no TLS context per email)"
        self.mailbox = stack.smtp.mailbox
        self.turn = iter(range(ACCOUNTS))
        self.lock = threading.Lock()

    def prepare(self, browser):
        return None

    def run(self, browser, state):
        with self.lock:
            address = f"r{next(self.turn)}@bench.example.com"
        browser.cookies.clear()
        token = browser.csrf_token("/accounts/login/code/")
        browser.request(
            "POST", "/accounts/login/code/", {"email": address, "csrfmiddlewaretoken": token}
        )
        message = self.mailbox.message_to(address, timeout=30)
        text = message.get_body(preferencelist=("plain",)).get_content()
        code = re.search(r"^([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", text, re.MULTILINE).group(1)
        token = browser.csrf_token("/accounts/login/code/confirm/")
        status, _, _ = browser.request(
            "POST",
            "/accounts/login/code/confirm/",
            {"code": code, "csrfmiddlewaretoken": token},
        )
        _, _, html = browser.request("GET", "/hello/")
        return status == 302 and f"Hello, {address}" in html

    def check(self) -> list[str]:
        self.mailbox.clear()
        return []
