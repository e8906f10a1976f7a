"""What one sign-in costs: `scripts/bench` (python -m bench.signin).

Starts the production stack on loopback (gunicorn with config/gunicorn.py and DEBUG off, a real
redis-server, a real SMTP server that keeps what it receives, over STARTTLS; SQLite, then
PostgreSQL), and measures the framework floor, each step of the sign-in, whole sign-ins, and
Django's password login, all in one run. Prints a table; with --write, also docs/benchmarks.md
and its plot.

The server side (gunicorn, Redis, PostgreSQL) is pinned to CPU 0 and this load generator, with
its SMTP sink, to CPU 1, so the two do not fight over a core.
"""

import argparse
import http.client
import json
import logging
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from bench.reference import AllauthCodeSignIn, Reference
from bench.report import write_report
from harness.servers import (
    ROOT,
    PostgresServer,
    RedisServer,
    SmtpServer,
    free_port,
    remove_scratch,
    stop_process,
)

SITE_URL = "https://bench.example.test"
ALL_CPUS = os.sched_getaffinity(0)
# With one core only, everything shares it (and the table says so).
SERVER_CPUS = {0} if len(ALL_CPUS) > 1 else ALL_CPUS
GENERATOR_CPUS = {1} if len(ALL_CPUS) > 1 else ALL_CPUS
PASSWORD = "correct-horse-battery-staple-42"  # noqa: S105 - benchmark users only
CONCURRENCY = 8  # gunicorn's 2 workers x 4 threads


# --- A small keep-alive HTTP client that behaves like a browser behind fly's proxy -------------


class Browser:
    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        # The last request and its answer, to say why an operation failed.
        self.last = ""

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, dict, str]:
        headers = {"X-Forwarded-Proto": "https", "Origin": SITE_URL}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.last = f"{method} {path.partition('?')[0]}"
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                text = response.read().decode()
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                # A kept-alive connection the server closed: retry a GET once, never a POST.
                self.connection.close()
                if attempt or method != "GET":
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        self.last += f" answered {response.status}"
        return response.status, dict(response.headers), text

    def csrf_token(self, path: str = "/") -> str:
        _, _, html = self.request("GET", path)
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    def close(self) -> None:
        self.connection.close()


# --- The stack ---------------------------------------------------------------------------------


def pin(cpus: set[int]):
    return lambda: os.sched_setaffinity(0, cpus)


@dataclass
class Stack:
    database: str
    redis: RedisServer
    smtp: SmtpServer
    postgres: PostgresServer | None
    database_url: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    cold_start: float = 0.0

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "SECRET_KEY": BENCH_SECRET,
            "SITE_URL": SITE_URL,
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.smtp.port),
            # STARTTLS with certificate checks against the system's CA bundle, as production
            # talks to its provider (loading that bundle once cost 17 ms per email).
            "EMAIL_USE_TLS": "1",
            "SSL_CERT_FILE": str(self.smtp.ca_bundle),
            # Raised for the run, so that the limits measure nothing but themselves.
            "RATE_LIMIT_PER_IP": "100000000/15m",
            "RATE_LIMIT_PER_ADDRESS": "100000000/15m",
            "RATE_LIMIT_PER_MAILBOX": "100000000/15m",
            "RATE_LIMIT_FORMS_PER_IP": "100000000/15m",
            "RATE_LIMIT_SITE": "100000000/1h",
            "PORT": str(self.port),
            "METRICS_PORT": "0",  # any free port: the reference's gunicorn runs beside
            # No worker recycling mid-run: its CPU accounting would leave with it.
            "GUNICORN_CMD_ARGS": "--max-requests 0 --access-logfile /dev/null",
        }

    def start_app(self, log: Path) -> None:
        """gunicorn, its own log (access lines off) in `log`: a failure's traceback is shown."""
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
            cwd=ROOT,
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            preexec_fn=pin(SERVER_CPUS),  # noqa: PLW1509 - a plain affinity call
        )
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.perf_counter() - started > 60:
                raise RuntimeError("gunicorn did not answer /healthz within 60 s")
            time.sleep(0.005)
        self.cold_start = time.perf_counter() - started

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def server_cpu_seconds(self) -> float:
        """CPU seconds used so far by the gunicorn workers, mail included (their couriers send
        it: accounts/mail/courier.py)."""
        return cpu_seconds(self.worker_pids())

    def wait_for_the_mail_queue(self, timeout: float = 60) -> None:
        """Until the couriers have sent every queued email: their CPU belongs to this phase."""
        from django_tasks_db.models import DBTaskResult

        from accounts.mail.sign_in_email import WAITING
        from accounts.models import SignInEmail

        def owed() -> bool:
            return (
                SignInEmail.objects.filter(status__in=WAITING).exists()
                or DBTaskResult.objects.exclude(status__in=["SUCCESSFUL", "FAILED"]).exists()
            )

        deadline = time.monotonic() + timeout
        while owed():
            if time.monotonic() > deadline:
                raise RuntimeError("the couriers did not empty the mail queue within a minute")
            time.sleep(0.02)

    def infrastructure_cpu_seconds(self) -> tuple[float, float]:
        """CPU seconds PostgreSQL (the postmaster, its live backends, and the ones that ended)
        and Redis have used so far."""
        postgres = 0.0
        if self.postgres:
            postmaster = self.postgres.process.pid
            children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
            postgres = cpu_seconds([postmaster], ended_children=True)
            postgres += cpu_seconds([int(pid) for pid in children if Path(f"/proc/{pid}").exists()])
        return postgres, cpu_seconds([self.redis.process.pid])

    def worker_rss_mb(self) -> list[float]:
        return [rss_mb(pid) for pid in self.worker_pids()]

    def stop(self) -> None:
        if self.process:
            stop_process(self.process)


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


def cpu_seconds(pids: list[int], ended_children: bool = False) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # a PostgreSQL backend that ended just now: its parent counts it
        total += int(fields[11]) + int(fields[12])  # utime + stime
        if ended_children:
            total += int(fields[13]) + int(fields[14])  # cutime + cstime
    return total / ticks


BENCH_SECRET = secrets.token_urlsafe(50)


def start_stack(database: str, folder: Path) -> Stack:
    redis = RedisServer()
    redis.start()
    smtp = SmtpServer(starttls=True).start()
    postgres = None
    if database == "postgresql":
        postgres = PostgresServer().start()
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={postgres.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute("CREATE DATABASE latchkey")
        database_url = postgres.url
    else:
        database_url = f"sqlite:///{folder / 'bench.sqlite3'}"
    stack = Stack(database, redis, smtp, postgres, database_url)
    for server in (redis.process, postgres.process if postgres else None):
        if server:
            os.sched_setaffinity(server.pid, SERVER_CPUS)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=stack.env,
        check=True,
    )
    return stack


# --- Measuring ---------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    requests_per_op: int
    throughput: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_ms: float = 0.0
    postgres_cpu_ms: float = 0.0
    redis_cpu_ms: float = 0.0
    ops: int = 0
    failures: int = 0
    notes: list[str] = field(default_factory=list)


def failed(reasons: Counter, browser: Browser, error: Exception | None = None) -> None:
    """Count why an operation failed: its last request's answer, or what it raised there."""
    reasons[f"{browser.last}: {type(error).__name__}" if error else browser.last] += 1


def saturate(
    stack: Stack, scenario, seconds: float, reasons: Counter
) -> tuple[float, float, list[float], int, int]:
    """Closed loop, CONCURRENCY clients: throughput, CPU seconds of the web (mail included),
    of PostgreSQL and Redis, successes, failures (why, in `reasons`)."""
    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        browser = Browser(stack.port)
        state = scenario.prepare(browser)
        while time.perf_counter() < deadline:
            try:
                ok, error = scenario.run(browser, state), None
            except Exception as raised:  # noqa: BLE001 - a failure to count, not to hide
                ok, error = False, raised
            with lock:
                counts["ok" if ok else "failed"] += 1
                if not ok:
                    failed(reasons, browser, error)
        browser.close()

    threads = [threading.Thread(target=client) for _ in range(CONCURRENCY)]
    cpu_before = stack.server_cpu_seconds()
    infrastructure_before = stack.infrastructure_cpu_seconds()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    stack.wait_for_the_mail_queue()
    cpu = stack.server_cpu_seconds() - cpu_before
    infrastructure = [
        after - before
        for after, before in zip(
            stack.infrastructure_cpu_seconds(), infrastructure_before, strict=True
        )
    ]
    return counts["ok"] / elapsed, cpu, infrastructure, counts["ok"], counts["failed"]


def paced(
    stack: Stack, scenario, rate: float, seconds: float, reasons: Counter
) -> tuple[list[float], int]:
    """Open loop at a fixed arrival rate: latencies in ms from each op's scheduled start."""
    total = max(1, int(rate * seconds))
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    next_index = iter(range(total))
    start = time.perf_counter() + 0.2

    def client() -> None:
        nonlocal failures
        browser = Browser(stack.port)
        state = scenario.prepare(browser)
        for index in next_index:
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                ok, error = scenario.run(browser, state), None
            except Exception as raised:  # noqa: BLE001
                ok, error = False, raised
            finished = time.perf_counter()
            with lock:
                if ok:
                    latencies.append((finished - scheduled) * 1000)
                else:
                    failures += 1
                    failed(reasons, browser, error)
        browser.close()

    threads = [threading.Thread(target=client) for _ in range(CONCURRENCY * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(stack: Stack, scenario, seconds: float) -> Result:
    result = Result(scenario.name, scenario.requests_per_op)
    reasons: Counter = Counter()
    throughput, cpu, (postgres, redis), ok, failures = saturate(stack, scenario, seconds, reasons)
    result.throughput, result.ops, result.failures = throughput, ok, failures
    result.cpu_ms = cpu * 1000 / max(ok, 1)
    result.postgres_cpu_ms = postgres * 1000 / max(ok, 1)
    result.redis_cpu_ms = redis * 1000 / max(ok, 1)
    latencies, failed_paced = paced(stack, scenario, max(throughput / 2, 0.5), seconds, reasons)
    result.failures += failed_paced
    result.notes.extend(
        f"{scenario.name}: {count} failed, last request {reason}"
        for reason, count in reasons.most_common(3)
    )
    result.p50_ms = percentile(latencies, 0.50)
    result.p99_ms = percentile(latencies, 0.99)
    result.notes.extend(scenario.check())
    return result


# --- The scenarios -----------------------------------------------------------------------------


class Scenario:
    name = ""
    requests_per_op = 1

    def prepare(self, browser: Browser):
        return None

    def run(self, browser: Browser, state) -> bool:
        raise NotImplementedError

    def check(self) -> list[str]:
        return []


class Floor(Scenario):
    name = "floor: a page that does nothing (GET /check-inbox/, no session)"

    def run(self, browser, state):
        return browser.request("GET", "/check-inbox/")[0] == 302


class SignInPage(Scenario):
    name = "1. sign-in page (GET /)"

    def run(self, browser, state):
        return browser.request("GET", "/")[0] == 200


class LinkRequest(Scenario):
    name = "2. link request (POST /, email delivered over SMTP)"

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.sent = 0
        self.lock = threading.Lock()

    def prepare(self, browser):
        return browser.csrf_token("/")

    def run(self, browser, token):
        address = f"link-{secrets.token_hex(6)}@bench.example.com"
        status, headers, _ = browser.request(
            "POST", "/", {"email": address, "csrfmiddlewaretoken": token}
        )
        ok = status == 302 and headers.get("Location") == "/check-inbox/"
        if ok:
            with self.lock:
                self.sent += 1
        return ok

    def check(self):
        mailbox = self.stack.smtp.mailbox
        deadline = time.monotonic() + 30
        while len(mailbox.messages) < self.sent and time.monotonic() < deadline:
            time.sleep(0.1)
        delivered = len(mailbox.messages)
        mailbox.clear()
        if delivered != self.sent:
            return [f"link requests: {self.sent} answered, {delivered} emails delivered"]
        return [f"link requests: all {delivered} emails delivered to the SMTP server"]


class Tokens:
    """Valid, unused sign-in links for fresh users, made the way the app makes them."""

    def __init__(self, count: int) -> None:
        from django.contrib.auth.hashers import make_password
        from sesame.utils import get_query_string

        from accounts.models import User
        from accounts.signin.links import LOGIN_SCOPE

        unusable = make_password(None)
        users = User.objects.bulk_create(
            [
                User(email=f"t{n}-{secrets.token_hex(4)}@bench.example.com", password=unusable)
                for n in range(count)
            ]
        )
        self.queries = [get_query_string(user, scope=LOGIN_SCOPE) for user in users]
        self.emails = [user.email for user in users]
        self.lock = threading.Lock()

    def take(self) -> tuple[str, str]:
        with self.lock:
            return self.queries.pop(), self.emails.pop()


class OpenLink(Scenario):
    name = "3a. open the emailed link (GET /link/?sesame=..., 303)"

    def __init__(self, tokens: Tokens) -> None:
        self.query, _ = tokens.take()

    def run(self, browser, state):
        status, headers, _ = browser.request("GET", "/link/" + self.query)
        browser.cookies.clear()
        return status == 303


class ConfirmPage(Scenario):
    name = "3b. confirm page (GET /link/)"

    def __init__(self, tokens: Tokens) -> None:
        self.query, self.email = tokens.take()

    def prepare(self, browser):
        browser.request("GET", "/link/" + self.query)

    def run(self, browser, state):
        status, _, html = browser.request("GET", "/link/")
        return status == 200 and f"Sign in as {self.email}" in html


class Confirm(Scenario):
    name = "4. confirm (POST /link/: claim and sign in)"

    def __init__(self, tokens: Tokens) -> None:
        self.tokens = tokens

    def prepare(self, browser):
        return browser.csrf_token("/")

    def run(self, browser, token):
        query, _ = self.tokens.take()
        csrf_cookie = {k: v for k, v in browser.cookies.items() if "csrf" in k}
        status, headers, _ = browser.request(
            "POST",
            "/link/",
            {"sesame": query.removeprefix("?sesame="), "csrfmiddlewaretoken": token},
        )
        browser.cookies = csrf_cookie  # the next claim comes from a new visitor
        return status == 302 and headers.get("Location") == "/dashboard/"


class Dashboard(Scenario):
    name = "5. dashboard (GET /dashboard/, signed in)"

    def __init__(self, tokens: Tokens) -> None:
        self.tokens = tokens

    def prepare(self, browser):
        query, email = self.tokens.take()
        token = browser.csrf_token("/")
        browser.request("POST", "/link/", {"sesame": query[8:], "csrfmiddlewaretoken": token})
        return email

    def run(self, browser, email):
        status, _, html = browser.request("GET", "/dashboard/")
        return status == 200 and f"Hello, {email}" in html


class WholeSignIn(Scenario):
    name = "whole sign-in by link (6 requests + SMTP, new address each)"
    requests_per_op = 6

    def __init__(self, stack: Stack) -> None:
        self.mailbox = stack.smtp.mailbox

    def run(self, browser, state):
        browser.cookies.clear()
        address = f"p-{secrets.token_hex(6)}@bench.example.com"
        token = browser.csrf_token("/")
        browser.request("POST", "/", {"email": address, "csrfmiddlewaretoken": token})
        message = self.mailbox.message_to(address, timeout=30)
        text = message.get_body(preferencelist=("plain",)).get_content()
        query = re.search(r"/link/(\?sesame=[\w.-]+)", text).group(1)
        browser.request("GET", "/link/" + query)
        token = re.search(
            r'name="csrfmiddlewaretoken" value="([^"]+)"', browser.request("GET", "/link/")[2]
        ).group(1)
        status, headers, _ = browser.request(
            "POST", "/link/", {"sesame": query[8:], "csrfmiddlewaretoken": token}
        )
        _, _, html = browser.request("GET", "/dashboard/")
        return status == 302 and f"Hello, {address}" in html

    def check(self):
        self.mailbox.clear()
        return []


class CodeSignIn(Scenario):
    name = "whole sign-in by code (5 requests + SMTP: ask, read the code, type it)"
    requests_per_op = 5

    def __init__(self, stack: Stack) -> None:
        self.mailbox = stack.smtp.mailbox

    def run(self, browser, state):
        browser.cookies.clear()
        address = f"c-{secrets.token_hex(6)}@bench.example.com"
        token = browser.csrf_token("/")
        browser.request("POST", "/", {"email": address, "csrfmiddlewaretoken": token})
        message = self.mailbox.message_to(address, timeout=30)
        text = message.get_body(preferencelist=("plain",)).get_content()
        code = re.search(r"^\s+(\d{3} \d{3})\s*$", text, re.MULTILINE).group(1)
        token = browser.csrf_token("/check-inbox/")
        status, headers, _ = browser.request(
            "POST", "/check-inbox/", {"code": code, "csrfmiddlewaretoken": token}
        )
        _, _, html = browser.request("GET", "/dashboard/")
        return status == 302 and f"Hello, {address}" in html

    def check(self):
        self.mailbox.clear()
        return []


class PasskeySignIn(Scenario):
    name = "whole sign-in by passkey (4 requests: page, options, answer, dashboard)"
    requests_per_op = 4

    def __init__(self, count: int) -> None:
        """Accounts with a passkey each, stored as registration stores them; each client signs
        in again and again with its own (two sign-ins of one account at once: one would lose)."""
        from urllib.parse import urlsplit

        from django.contrib.auth.hashers import make_password

        from accounts.models import Passkey, User
        from harness.authenticator import SoftPasskey

        unusable = make_password(None)
        users = User.objects.bulk_create(
            [
                User(email=f"pk{n}-{secrets.token_hex(4)}@bench.example.com", password=unusable)
                for n in range(count)
            ]
        )
        self.passkeys = []
        for user in users:
            passkey = SoftPasskey(origin=SITE_URL, rp_id=urlsplit(SITE_URL).hostname)
            passkey.user_handle = secrets.token_bytes(32)
            Passkey.objects.create(
                user=user,
                credential_id=passkey.credential_id,
                public_key=passkey.public_key(),
                user_handle=passkey.user_handle,
                backup_eligible=True,
                backed_up=True,
                name="bench",
            )
            self.passkeys.append((passkey, user.email))
        self.lock = threading.Lock()

    def prepare(self, browser):
        with self.lock:
            return self.passkeys.pop()

    def run(self, browser, state):
        passkey, email = state
        browser.cookies.clear()
        token = browser.csrf_token("/")
        _, _, options = browser.request(
            "POST", "/passkeys/sign-in/options/", {"csrfmiddlewaretoken": token}
        )
        answer = {"credential": passkey.get(options), "csrfmiddlewaretoken": token}
        status, headers, _ = browser.request("POST", "/passkeys/sign-in/", answer)
        _, _, html = browser.request("GET", "/dashboard/")
        return status == 302 and f"Hello, {email}" in html


class PasswordSignIn(Scenario):
    name = "Django password login (LoginView, PBKDF2 default; 3 requests)"
    requests_per_op = 3

    def __init__(self, count: int) -> None:
        from django.contrib.auth.hashers import make_password

        from accounts.models import User

        hashed = make_password(PASSWORD)
        users = User.objects.bulk_create(
            [User(email=f"pw{n}@bench.example.com", password=hashed) for n in range(count)]
        )
        self.emails = [user.email for user in users]
        self.turn = 0
        self.lock = threading.Lock()

    def run(self, browser, state):
        with self.lock:
            self.turn += 1
            email = self.emails[self.turn % len(self.emails)]
        browser.cookies.clear()
        token = browser.csrf_token("/password-login/")
        status, headers, _ = browser.request(
            "POST",
            "/password-login/",
            {"username": email, "password": PASSWORD, "csrfmiddlewaretoken": token},
        )
        _, _, html = browser.request("GET", "/dashboard/")
        return status == 302 and f"Hello, {email}" in html


# --- One round per database, each in its own process (Django's settings load once) -------------


def run_round(database: str, seconds: float, output: Path) -> None:
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's chatter
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    stack = start_stack(database, folder)
    os.sched_setaffinity(0, GENERATOR_CPUS)
    os.environ.update({k: v for k, v in stack.env.items() if k != "PORT"})
    import django

    django.setup()
    try:
        stack.start_app(folder / "gunicorn.log")
        tokens = Tokens(20000)
        generator_before = os.times()
        scenarios = [
            Floor(),
            SignInPage(),
            LinkRequest(stack),
            OpenLink(tokens),
            ConfirmPage(tokens),
            Confirm(tokens),
            Dashboard(tokens),
            WholeSignIn(stack),
            CodeSignIn(stack),
            # A passkey for each client: 8 saturating, then 16 paced, then 8 a paired round.
            PasskeySignIn((3 + PAIRS) * CONCURRENCY),
            PasswordSignIn(50),
        ]
        results = []
        for scenario in scenarios:
            print(f"  {database}: {scenario.name}", file=sys.stderr, flush=True)
            results.append(measure(stack, scenario, seconds))
        paired: dict[str, dict[str, list[float]]] = {}
        if stack.postgres:
            # The reference, beside: its gunicorn on the same core, after Latchkey's has
            # served its last request (its CPU is not counted while the reference runs). Twice:
            # mail over STARTTLS as ours goes, and in plain SMTP, where it builds no TLS context.
            for plain_smtp in (False, True):
                reference = AllauthCodeSignIn(stack, plain_smtp)
                print(f"  {database}: {reference.name}", file=sys.stderr, flush=True)
                served = Reference(stack, free_port(), pin(SERVER_CPUS), plain_smtp)
                try:
                    results.append(measure(served, reference, seconds))
                    if plain_smtp:
                        kinds = (WholeSignIn, CodeSignIn, PasskeySignIn)
                        whole = [s for s in scenarios if isinstance(s, kinds)]
                        paired = paired_ratios(stack, whole, served, reference, seconds)
                finally:
                    served.stop()
        generator_after = os.times()
        proof = proof_of_work_cost()
        series = metrics_cost()
        summary = {
            "metrics_counter_ms": series[0],
            "metrics_histogram_ms": series[1],
            "proof_make_ms": proof[0],
            "proof_check_ms": proof[1],
            "database": database,
            "results": [asdict(result) for result in results],
            "paired": paired,
            "worker_rss_mb": stack.worker_rss_mb(),
            "cold_start_s": stack.cold_start,
            "generator_cpu_s": (generator_after.user + generator_after.system)
            - (generator_before.user + generator_before.system),
            "wall_s": generator_after.elapsed - generator_before.elapsed,
        }
        output.write_text(json.dumps(summary))
    finally:
        stack.stop()
        log = folder / "gunicorn.log"
        errors = log.read_text(errors="replace").count("Traceback") if log.exists() else 0
        if errors:
            print(
                f"  {database}: {errors} tracebacks in gunicorn's log; the first:", file=sys.stderr
            )
            text = log.read_text(errors="replace")
            # From the line before it: Django's own ("Internal Server Error: /", "Service
            # Unavailable: /") says what the person was answered.
            start = text.rfind("\n", 0, text.rfind("\n", 0, text.index("Traceback"))) + 1
            print(text[start:][:3000], file=sys.stderr)
        stack.smtp.stop()
        stack.redis.stop()
        if stack.postgres:
            stack.postgres.stop()
        remove_scratch()
        shutil.rmtree(folder, ignore_errors=True)


PAIRS = 5


def paired_ratios(stack, whole, served, reference, seconds: float) -> dict:
    """Each whole sign-in against the reference, in PAIRS rounds of short phases that take
    turns (ours, the reference, ours, ...), both servers up: a minute of a busier machine then
    weighs on both sides of a ratio alone, where phases minutes apart moved the ratios by 50 %
    (docs/benchmarks.md, 2026-12-06, evening). Each round's ratio of server CPU and of
    PostgreSQL's CPU per operation, for the median."""
    phase = max(seconds / 2, 1.0)
    ratios: dict[str, dict[str, list[float]]] = {}
    for turn in range(PAIRS):
        print(f"  paired round {turn + 1} of {PAIRS}", file=sys.stderr, flush=True)
        for scenario in whole:
            ours = _per_op(stack, scenario, phase)
            theirs = _per_op(served, reference, phase)
            pair = ratios.setdefault(scenario.name, {"cpu": [], "postgres": []})
            pair["cpu"].append(ours[0] / theirs[0])
            pair["postgres"].append(ours[1] / max(theirs[1], 1e-9))
    return ratios


def _per_op(stack, scenario, seconds: float) -> tuple[float, float]:
    """Server CPU and PostgreSQL CPU per successful operation, closed loop."""
    _, cpu, (postgres, _redis), ok, _failed = saturate(stack, scenario, seconds, Counter())
    return cpu / max(ok, 1), postgres / max(ok, 1)


def proof_of_work_cost(times: int = 200) -> tuple[float, float]:
    """The server's CPU for the front door's proof of work (accounts/signin/proof.py), in ms:
    making a challenge, and checking a solved answer (its one-use record in Redis included).
    Measured in this process, with the stack's settings: the same code gunicorn runs."""
    import altcha

    from accounts.signin.proof import challenge_for, proven

    made = time.thread_time()
    challenges = [challenge_for("sign-in", "127.0.0.1") for _ in range(times)]
    make_ms = (time.thread_time() - made) * 1000 / times
    answers = []
    for text in challenges[:21]:  # solving is the browser's work, not measured
        challenge = altcha.Challenge.from_dict(json.loads(text))
        answers.append(altcha.Payload(challenge, altcha.solve_challenge(challenge)).to_base64())
    proven(answers.pop(), "sign-in", "127.0.0.1")  # the first check opens Redis's connection
    checked = time.thread_time()
    assert all(proven(answer, "sign-in", "127.0.0.1") for answer in answers)
    check_ms = (time.thread_time() - checked) * 1000 / len(answers)
    return make_ms, check_ms


def print_ratios(results: list[dict]) -> None:
    """Each whole sign-in as a ratio to the reference's, measured in the same run: the numbers
    the targets are stated in (docs/benchmarks.md)."""
    for reference in [r for r in results if r["name"].startswith("reference")]:
        print(f"\n  as a ratio to {reference['name']}:")
        print(f"  {'':<66} {'server CPU':>10} {'PostgreSQL':>10} {'Redis ms':>9}")
        for r in results:
            if r["name"].startswith("whole sign-in"):
                print(
                    f"  {r['name']:<66} {r['cpu_ms'] / reference['cpu_ms']:>9.2f}x "
                    f"{r['postgres_cpu_ms'] / max(reference['postgres_cpu_ms'], 1e-9):>9.2f}x "
                    f"{r['redis_cpu_ms']:>9.2f}"
                )


def print_paired(paired: dict) -> None:
    """The same ratios, from rounds that took turns with the reference: the median, and the
    range, of each round's ratio."""
    if not paired:
        return
    print(f"\n  paired with the reference in plain SMTP, {PAIRS} rounds taking turns:")
    print(f"  {'':<66} {'server CPU':>18} {'PostgreSQL':>18}")
    for name, pair in paired.items():
        cells = [
            f"{statistics.median(v):.2f}x ({min(v):.2f}-{max(v):.2f})"
            for v in (pair["cpu"], pair["postgres"])
        ]
        print(f"  {name:<66} {cells[0]:>18} {cells[1]:>18}")


METRICS_COST = """
import time
from accounts import metrics
n = 20000
started = time.thread_time()
for _ in range(n):
    metrics.SIGN_IN_REQUESTS.labels("sent").inc()
counter = (time.thread_time() - started) * 1000 / n
started = time.thread_time()
for _ in range(n):
    metrics.EMAIL_WAIT.labels("sign_in").observe(0.3)
print(counter, (time.thread_time() - started) * 1000 / n)
"""


def metrics_cost() -> tuple[float, float]:
    """A counter's increment and a histogram's observation, in ms, as gunicorn's workers make
    them: prometheus-client in multiprocess mode (a write to a memory-mapped file)."""
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [sys.executable, "-c", METRICS_COST],
            cwd=ROOT,
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": folder},
            capture_output=True,
            text=True,
            check=True,
        )
    counter, histogram = (float(value) for value in done.stdout.split())
    return counter, histogram


def machine_description() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    memory = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    import django
    import gunicorn

    return {
        "cpu": model.group(1) if model else platform.processor(),
        "cores": str(os.cpu_count()),
        "memory": f"{int(memory.group(1)) / 1024 / 1024:.0f} GiB" if memory else "?",
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": gunicorn.__version__,
    }


def print_table(rounds: list[dict]) -> None:
    for summary in rounds:
        results = summary["results"]
        floor = results[0]
        print(f"\n## {summary['database']}\n")
        print(
            f"{'scenario':<66} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>8} "
            f"{'PG ms':>7} {'Redis ms':>8} {'CPU x floor':>11} {'p99 x floor':>11} {'failed':>6}"
        )
        for r in results:
            print(
                f"{r['name']:<66} {r['throughput']:>8.1f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
                f"{r['cpu_ms']:>8.2f} {r['postgres_cpu_ms']:>7.2f} {r['redis_cpu_ms']:>8.2f} "
                f"{r['cpu_ms'] / floor['cpu_ms']:>11.1f} "
                f"{r['p99_ms'] / floor['p99_ms']:>11.1f} {r['failures']:>6}"
            )
        print_ratios(results)
        print_paired(summary.get("paired", {}))
        for r in results:
            for note in r["notes"]:
                print(f"  {note}")
        rss = ", ".join(f"{mb:.0f} MB" for mb in summary["worker_rss_mb"])
        print(f"  worker resident memory after the run: {rss}")
        print(
            "  cold start (process start to first 200 from /healthz): "
            f"{summary['cold_start_s']:.2f} s"
        )
        print(
            f"  metrics, server CPU: {summary['metrics_counter_ms']:.4f} ms a counter, "
            f"{summary['metrics_histogram_ms']:.4f} ms a histogram (a sign-in moves about "
            "three of each across its requests)"
        )
        print(
            f"  proof of work, server CPU: {summary['proof_make_ms']:.3f} ms to make a "
            f"challenge, {summary['proof_check_ms']:.3f} ms to check an answer"
        )
        print(
            f"  load generator + SMTP sink CPU: {summary['generator_cpu_s']:.1f} s "
            f"over {summary['wall_s']:.0f} s (pinned to CPU {sorted(GENERATOR_CPUS)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per phase (saturation, half)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md and plot")
    parser.add_argument("--round", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.round:
        run_round(args.round, args.seconds, Path(args.output))
        return
    remove_scratch()  # this process only starts the rounds

    print(
        "Rate limits are raised to 100000000 per 15 minutes for this run (RATE_LIMIT_PER_IP, "
        "RATE_LIMIT_PER_ADDRESS, _PER_MAILBOX, _FORMS_PER_IP, and _SITE per hour), so no proof of "
        "work is asked; worker recycling (max_requests) is off.",
        file=sys.stderr,
    )
    rounds = []
    for database in args.database or ["sqlite", "postgresql"]:
        with tempfile.NamedTemporaryFile(suffix=".json") as output:
            subprocess.run(
                [sys.executable, "-m", "bench.signin", "--round", database,
                 "--seconds", str(args.seconds), "--output", output.name],
                cwd=ROOT,
                check=True,
            )  # fmt: skip
            rounds.append(json.loads(Path(output.name).read_text()))
    print_table(rounds)
    if args.write:
        write_report(rounds, machine_description(), args.seconds)
        print("\nWrote docs/benchmarks.md and docs/benchmarks.svg")


if __name__ == "__main__":
    main()
