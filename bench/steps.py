"""Each step of a sign-in by link, by code and by passkey, in-process: `python -m bench.steps`.

Where `scripts/bench` measures gunicorn from outside, this runs the same steps through Django's
full middleware stack in one process, against a real redis-server, PostgreSQL and SMTP server, and
prints for each step its CPU time (this thread only: the SMTP server runs in another), PostgreSQL's
CPU time for it (a mean: /proc counts in 10 ms ticks, so one step is too short to read alone), and
how many SQL statements and Redis commands it sent. The mail is sent as a request's COMMIT hands it
to the courier (accounts/mail/courier.py), in this process, with the mail connection kept as the
courier keeps it. It answers "which step talks to the database how often", the question to ask
before cutting CPU.
"""

import logging
import os
import re
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from bench.signin import start_stack
from bench.stepping import Steps, stop_servers
from harness.tasks import due_emails, hand_due_tasks

SIGN_INS = 200
WARM_UP = 5


def main() -> None:
    stack = start_stack("postgresql", Path(tempfile.mkdtemp(prefix="steps-")))
    os.environ.update({k: v for k, v in stack.env.items() if k != "PORT"})
    import django

    django.setup()
    for name in ("accounts", "mail.log", "django.tasks", "django_tasks_db"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from django.test import Client
    from sesame.utils import get_query_string

    from accounts.mail.send import keep_connection_open
    from accounts.models import Passkey, User
    from accounts.signin.codes import code_for
    from accounts.signin.links import LOGIN_SCOPE
    from bench.signin import SITE_URL
    from harness.authenticator import SoftPasskey

    keep_connection_open()  # as the courier does
    step = Steps(stack)

    # One client, its cookies cleared between people: a new Client would load the middleware
    # again on its first request, and that is not a sign-in's cost.
    client = Client(headers={"X-Forwarded-Proto": "https", "Host": "127.0.0.1"})

    def by_link(n: int) -> None:
        address = f"steps{n}@bench.example.com"
        user = User.objects.create(email=address)
        client.cookies.clear()
        step("1. sign-in page (GET /)", lambda: client.get("/"))
        asked = step("2. link request (POST /)", lambda: client.post("/", {"email": address}))
        step("2b. check-inbox (GET)", lambda: client.get(asked["Location"]))
        handed = due_emails()  # production's COMMIT knows the id: no lookup to count
        step("2c. the courier (one email)", lambda: hand_due_tasks(handed))
        query = get_query_string(user, scope=LOGIN_SCOPE)
        opened = step(
            "3a. open the link (GET /link/?sesame=)", lambda: client.get(f"/link/{query}")
        )
        page = step("3b. confirm page (GET /link/)", lambda: client.get(opened["Location"]))
        form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.content.decode()))
        confirmed = step("4. confirm (POST /link/)", lambda: client.post("/link/", form))
        assert confirmed.status_code in (302, 303), confirmed.status_code
        shown = step("5. dashboard (GET)", lambda: client.get(confirmed["Location"]))
        assert address in shown.content.decode()

    def by_code(n: int) -> None:
        address = f"codes{n}@bench.example.com"
        User.objects.create(email=address)
        client.cookies.clear()
        step("1. sign-in page (GET /)", lambda: client.get("/"))
        asked = step("2. code request (POST /)", lambda: client.post("/", {"email": address}))
        step("2b. check-inbox (GET)", lambda: client.get(asked["Location"]))
        handed = due_emails()  # production's COMMIT knows the id: no lookup to count
        step("2c. the courier (one email)", lambda: hand_due_tasks(handed))
        code = code_for(client.session["login_code"]["request"])
        typed = step("4. type the code (POST /check-inbox/)", lambda: type_code(code))
        assert typed.status_code in (302, 303), typed.status_code
        shown = step("5. dashboard (GET)", lambda: client.get(typed["Location"]))
        assert address in shown.content.decode()

    def by_passkey(n: int) -> None:
        passkey = SoftPasskey(origin=SITE_URL, rp_id=urlsplit(SITE_URL).hostname)
        passkey.user_handle = secrets.token_bytes(32)
        user = User.objects.create(email=f"keys{n}@bench.example.com")
        Passkey.objects.create(
            user=user,
            credential_id=passkey.credential_id,
            public_key=passkey.public_key(),
            user_handle=passkey.user_handle,
            name="bench",
        )
        client.cookies.clear()
        step("1. sign-in page (GET /)", lambda: client.get("/"))
        options = step(
            "2. passkey options (POST)", lambda: client.post("/passkeys/sign-in/options/")
        )
        answer = {"credential": passkey.get(options.content.decode())}
        signed = step(
            "3. the passkey's answer (POST: check, sign in)",
            lambda: client.post("/passkeys/sign-in/", answer),
        )
        assert signed.status_code in (302, 303), signed.status_code
        shown = step("5. dashboard (GET)", lambda: client.get(signed["Location"]))
        assert user.email in shown.content.decode()

    def type_code(code: str):
        return client.post("/check-inbox/", {"code": code})

    try:
        for way, what in [(by_link, "by link"), (by_code, "by code"), (by_passkey, "by passkey")]:
            for n in range(WARM_UP):
                way(n)
            step.samples.clear()
            for n in range(WARM_UP, WARM_UP + SIGN_INS):
                way(n)
            step.report(f"PostgreSQL, {SIGN_INS} sign-ins {what}")
    finally:
        stop_servers(stack)


if __name__ == "__main__":
    main()
