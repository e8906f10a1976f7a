"""Where a sign-in's server time goes: `python -m bench.profile` (pyinstrument, in-process).

Runs the link request and the confirm step through Django's full middleware stack, against a
real redis-server, a real SMTP server and SQLite, and prints pyinstrument's call tree for each.
"""

import logging
import os
import tempfile
from pathlib import Path

from bench.signin import Stack, start_stack
from harness.servers import remove_scratch


def main() -> None:
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    stack: Stack = start_stack("sqlite", Path(tempfile.mkdtemp(prefix="profile-")))
    os.environ.update({k: v for k, v in stack.env.items() if k != "PORT"})
    import django

    django.setup()
    logging.getLogger("accounts").setLevel(logging.WARNING)
    from django.test import Client
    from pyinstrument import Profiler
    from sesame.utils import get_query_string

    from accounts.models import User
    from accounts.signin.links import LOGIN_SCOPE

    client = Client(headers={"X-Forwarded-Proto": "https", "Host": "127.0.0.1"})
    for n in range(20):  # warm up: templates compiled, connections open
        client.post("/", {"email": f"warm{n}@bench.example.com"})

    profiler = Profiler(interval=0.0002)
    with profiler:
        for n in range(300):
            client.post("/", {"email": f"p{n}@bench.example.com"})
    print("=== 300 link requests (POST /) ===")
    print(profiler.output_text(show_all=False, color=False))

    users = User.objects.bulk_create([User(email=f"c{n}@bench.example.com") for n in range(300)])
    tokens = [get_query_string(u, scope=LOGIN_SCOPE).removeprefix("?sesame=") for u in users]
    profiler = Profiler(interval=0.0002)
    with profiler:
        for token in tokens:
            Client(headers={"X-Forwarded-Proto": "https", "Host": "127.0.0.1"}).post(
                "/link/", {"sesame": token}
            )
    print("=== 300 confirms (POST /link/) ===")
    print(profiler.output_text(show_all=False, color=False))
    stack.smtp.stop()
    stack.redis.stop()
    remove_scratch()


if __name__ == "__main__":
    main()
