"""The README's run command: SQLite, no Redis, and the sign-in link printed in the terminal."""

import os
import re
import subprocess
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest

from harness.servers import ROOT, free_port, stop_process, wait_for_port
from tests.helpers import csrf_token_in, eventually

pytestmark = pytest.mark.system


@pytest.fixture
def dev_server(tmp_path: Path):
    port = free_port()
    output = tmp_path / "terminal.txt"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EMAIL_", "REDIS_", "DATABASE_", "SITE_", "SECRET_", "DJANGO_"))
    }
    env.update(PORT=str(port), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with output.open("w") as terminal:
        process = subprocess.Popen(
            ["scripts/run"], cwd=ROOT, env=env, stdout=terminal, stderr=subprocess.STDOUT
        )
        wait_for_port(port, timeout=120, process=process)
        yield f"http://127.0.0.1:{port}", output
        stop_process(process)


def test_a_person_signs_in_with_the_link_printed_in_the_terminal(dev_server):
    origin, terminal = dev_server
    with httpx.Client(base_url=origin, timeout=30) as browser:
        page = browser.get("/")
        assert page.status_code == HTTPStatus.OK
        browser.post(
            "/", data={"email": "dev@example.com", "csrfmiddlewaretoken": csrf_token_in(page.text)}
        )

        def printed_link() -> str | None:
            found = re.search(r"http://localhost:\d+/link/\?sesame=[\w.-]+", terminal.read_text())
            return found.group(0) if found else None

        eventually(printed_link, 10, "the email printed in the terminal")
        link = printed_link()

        confirm = browser.get(link.replace("localhost", "127.0.0.1"), follow_redirects=True)
        assert "Sign in as dev@example.com" in confirm.text
        signed_in = browser.post(
            "/link/",
            data={
                "sesame": link.split("sesame=")[1],
                "csrfmiddlewaretoken": csrf_token_in(confirm.text),
            },
            follow_redirects=True,
        )

    assert signed_in.status_code == HTTPStatus.OK
    assert "Hello, dev@example.com" in signed_in.text
