"""The operator's funnel at a million rows: `python -m bench.funnel`.

Fills a real PostgreSQL with a very busy site: a million sign-in emails over eight days (what
the table holds) and a million sign-ins over the last eleven and a half days (600 000 of them in
the week), among three million other events over ninety days (what that table holds). Then it
times the admin page's queries (accounts/records/funnel.py) under the app's own
DATABASE_TIMEOUT, and prints PostgreSQL's plan for each, so that docs/operations.md can say which
index each one uses.
"""

import os
import tempfile
import time
from pathlib import Path

import psycopg

from bench.signin import start_stack
from bench.stepping import stop_servers

FILL = """
INSERT INTO accounts_signinemail
    (id, address, domain, next_url, network, user_agent, requested_at, status, attempts,
     problem, signup, accounts_only, language, feedback)
SELECT 'r' || n, '', 'd' || (n % 40) || '.example', '', '', '',
       now() - (n % 691200) * interval '1 second',
       CASE WHEN n % 50 = 0 THEN 'failed' WHEN n % 20 = 0 THEN 'not_sent' ELSE 'sent' END,
       1, '', false, false, 'en',
       CASE WHEN n % 200 = 0 THEN 'bounced' WHEN n % 3000 = 0 THEN 'complained' ELSE '' END
FROM generate_series(1, 1000000) AS n;
INSERT INTO accounts_signinevent
    (at, kind, detail, network, user_agent, likely_scanner, domain, seconds)
SELECT now() - (n % 7776000) * interval '1 second', 'signed_in',
       (ARRAY['link', 'code', 'passkey'])[1 + n % 3], '', '', false,
       'd' || (n % 40) || '.example', 20 + n % 300
FROM generate_series(1, 1000000) AS n;
INSERT INTO accounts_signinevent (at, kind, detail, network, user_agent, likely_scanner, domain)
SELECT now() - (n % 7776000) * interval '1 second',
       (ARRAY['requested', 'opened', 'rejected', 'signed_out'])[1 + n % 4], '', '', '', false, ''
FROM generate_series(1, 3000000) AS n;
ANALYZE;
"""


def main() -> None:
    stack = start_stack("postgresql", Path(tempfile.mkdtemp(prefix="funnel-")))
    os.environ.update({k: v for k, v in stack.env.items() if k != "PORT"})
    import django

    django.setup()
    from django.db import connection

    from accounts.records import funnel

    try:
        started = time.perf_counter()
        # Filled on a connection of its own: the app's keeps DATABASE_TIMEOUT, as the page does.
        with psycopg.connect(stack.env["DATABASE_URL"], autocommit=True) as filling:
            filling.execute(FILL)
        print(f"filled in {time.perf_counter() - started:.0f} s")
        plans: list[str] = []
        for name, run in [
            ("the last day", lambda: funnel.window("day", _ago(days=1))),
            ("the last week", lambda: funnel.window("week", _ago(days=7))),
            ("the chart's seven days", funnel.days),
        ]:
            run()  # warm: the table in PostgreSQL's cache, as on a page seen before
            started = time.perf_counter()
            run()
            print(f"{name}: {1000 * (time.perf_counter() - started):.0f} ms")
        with connection.cursor() as cursor:
            for query in _queries():
                cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + query)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        print("\n\n".join(plans))
    finally:
        stop_servers(stack)


def _ago(**delta):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() - timedelta(**delta)


def _queries() -> list[str]:
    """The funnel's queries for the last week, as SQL (parameters inlined for EXPLAIN)."""
    from django.db.models import Count, Q

    from accounts.models import SignInEmail, SignInEvent
    from accounts.records.funnel import BY_EMAIL, SIGNED_IN, Median

    since = _ago(days=7)
    emails = (
        SignInEmail.objects.filter(requested_at__gte=since)
        .values("domain")
        .annotate(asked=Count("pk"), delivered=Count("pk", filter=Q(status="sent")))
    )
    sign_ins = (
        SignInEvent.objects.filter(kind=SIGNED_IN, at__gte=since)
        .values("domain", "detail")
        .annotate(count=Count("pk"))
    )
    waits = SignInEvent.objects.filter(kind=SIGNED_IN, at__gte=since, detail__in=BY_EMAIL)
    median = waits.values("kind").annotate(median=Median("seconds")).values("median")
    return [_sql(queryset) for queryset in (emails, sign_ins, median)]


def _sql(queryset) -> str:
    from django.db import connection

    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        return cursor.mogrify(sql, params)


if __name__ == "__main__":
    main()
