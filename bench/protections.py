"""What each protection of a sign-in costs on its own, in-process: `python -m bench.protections`.

`python -m bench.steps` says what each request of a sign-in costs; this says what the
protections inside those requests cost, each called alone, against a real redis-server and
PostgreSQL: this thread's CPU, median of many calls, and the statements and Redis commands
each sends. docs/benchmarks.md uses it to say what a target would cost in protection.
"""

import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.signin import start_stack
from bench.stepping import stop_servers

CALLS = 300


def main() -> None:
    stack = start_stack("postgresql", Path(tempfile.mkdtemp(prefix="protections-")))
    os.environ.update({k: v for k, v in stack.env.items() if k != "PORT"})
    import django

    django.setup()
    logging.getLogger("accounts").setLevel(logging.WARNING)
    from django.db import connection
    from django.template.loader import render_to_string
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext
    from django_redis import get_redis_connection

    from accounts.account.new_browsers import recognise
    from accounts.limits import count_form, limits_are_checkable
    from accounts.models import SignInEvent, User
    from accounts.records.audit import record
    from accounts.signin.front_door import admit

    redis = get_redis_connection("default")
    factory = RequestFactory(headers={"X-Forwarded-Proto": "https"})
    users = iter(User.objects.create(email=f"p{n}@bench.example.com") for n in range(10**6))

    def redis_calls() -> int:
        return sum(stats["calls"] for stats in redis.info("commandstats").values())

    def measure(name: str, protects: str, action: Callable[[int], object]) -> None:
        for n in range(20):
            action(n)
        samples = []
        for n in range(20, 20 + CALLS):
            started = time.thread_time()
            action(n)
            samples.append(time.thread_time() - started)
        before = redis_calls()
        with CaptureQueriesContext(connection) as queries:
            action(10**5)
        commands = redis_calls() - before - 1
        cpu = statistics.median(samples) * 1000
        print(f"| {name} | {protects} | {cpu:.2f} | {len(queries)} | {commands} |")

    request = factory.post("/", REMOTE_ADDR="127.0.0.1")
    print("| What | Protects | CPU ms | SQL | Redis |")
    print("| --- | --- | ---: | ---: | ---: |")
    measure(
        "the front door's counters (admit)",
        "inboxes from floods, the site's sending reputation",
        lambda n: admit(request, f"door{n}@bench.example.com", ""),
    )
    measure("the form-spam count", "the server from form spam", lambda n: count_form(request))
    measure(
        "Redis answers? (the sign-in page's PING)",
        "a form that cannot send is not offered",
        lambda n: limits_are_checkable(),
    )
    user = User.objects.create(email="events@bench.example.com")
    measure(
        "one audit event (INSERT)",
        "the account's activity; the funnel",
        lambda n: record(SignInEvent.Kind.SIGNED_IN, request, user, detail="code"),
    )
    measure(
        "the new-browser check, a new browser (savepoint, INSERT)",
        "the owner hears of a new browser",
        lambda n: recognise(request, next(users), first_sign_in=True),
    )
    page = factory.get("/")
    page.user = user
    measure(
        "base.html around an empty page (footer chooser, CSRF)",
        "the person's language",
        lambda n: render_to_string("base.html", request=page),
    )
    stop_servers(stack)


if __name__ == "__main__":
    main()
