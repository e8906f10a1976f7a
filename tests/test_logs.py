"""Run last (see conftest.py): no line logged during the whole run holds a sign-in token."""

from tests.conftest import EveryLogLine
from tests.environment import smtp_server
from tests.servers import AppServer


def test_no_log_line_of_the_whole_run_holds_a_token():
    tokens = smtp_server.mailbox.issued_tokens
    app_lines = EveryLogLine.lines
    server_logs = {path: path.read_text(errors="replace") for path in AppServer.all_logs}

    assert tokens, "no token was issued: run the whole suite"
    for token in tokens:
        assert not any(token in line for line in app_lines), token
        for path, text in server_logs.items():
            assert token not in text, f"{token} in {path}"
    # And no query string at all: gunicorn logs paths only.
    for text in server_logs.values():
        assert "sesame=" not in text
