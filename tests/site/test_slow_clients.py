"""Slow clients against gunicorn as production runs it (config/gunicorn.py, config/workers.py).

The attack review froze a machine with 12 connections dripping a header line or a body byte
every 2 seconds. Now a slow connection costs a socket, not one of the 8 threads.
"""

import select
import socket
import ssl
import statistics
import threading
import time
from http import HTTPStatus

import pytest
import trustme

from config.workers import MAX_REQUEST_BYTES, READ_TIMEOUT
from tests.helpers import our_app

pytestmark = pytest.mark.system

SLOW_CONNECTIONS = 50


def connect(app) -> socket.socket:
    return socket.create_connection(("127.0.0.1", app.port), timeout=READ_TIMEOUT + 5)


def answer_to(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


class Dripper(threading.Thread):
    """One slow client: a request that arrives a few bytes every 2 seconds, never finished."""

    def __init__(self, app, body: bool) -> None:
        super().__init__(daemon=True)
        self.sock = connect(app)
        self.body = body
        self.answer = b""
        self.reset = False

    def run(self) -> None:
        if self.body:
            self.sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n")
        else:
            self.sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        try:
            # A few more bytes every 2 seconds, until the server answers.
            while not select.select([self.sock], [], [], 2)[0]:
                self.sock.sendall(b"a" if self.body else b"X-Drip: 1\r\n")
            self.answer = answer_to(self.sock)
        except ConnectionResetError:
            # The server closed on a drip it had not read: cut off all the same.
            self.reset = True


def page_load_time(app) -> float:
    with app.client() as browser:
        started = time.monotonic()
        assert browser.get("/").status_code == HTTPStatus.OK
        return time.monotonic() - started


@pytest.mark.django_db(transaction=True)
def test_fifty_slow_connections_delay_no_one_and_are_cut_off(live_app):
    before = statistics.median(page_load_time(live_app) for _ in range(5))
    drippers = [Dripper(live_app, body=n % 2 == 0) for n in range(SLOW_CONNECTIONS)]
    for dripper in drippers:
        dripper.start()

    during = [page_load_time(live_app) for _ in range(10)]
    for dripper in drippers:
        dripper.join(READ_TIMEOUT + 5)

    assert max(during) - before < 1, (before, during)
    assert not any(dripper.is_alive() for dripper in drippers), "a slow client was never cut off"
    timed_out = [d for d in drippers if d.answer.startswith(b"HTTP/1.1 408 Request Timeout")]
    assert len(timed_out) + sum(d.reset for d in drippers) == SLOW_CONNECTIONS
    assert len(timed_out) > SLOW_CONNECTIONS / 2


@pytest.mark.django_db(transaction=True)
def test_oversized_and_malformed_requests_are_refused_before_the_app_and_unlogged(live_app):
    with connect(live_app) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\n"
            + f"Content-Length: {MAX_REQUEST_BYTES + 10}\r\n\r\n".encode()
            + b"a" * (MAX_REQUEST_BYTES + 10)
        )
        too_large = answer_to(sock)
    with connect(live_app) as sock:
        sock.sendall(b"GET /link/?sesame=AAAAsecretAAAA HTTP/1.1 junk\r\nHost: x\r\n\r\n")
        malformed = answer_to(sock)

    assert too_large.startswith(b"HTTP/1.1 413 Content Too Large")
    assert malformed.startswith(b"HTTP/1.1 400 Bad Request")
    assert "AAAAsecretAAAA" not in live_app.logs()


def test_gunicorns_own_error_log_never_quotes_a_query_string(tmp_path, transactional_db):
    # gunicorn's stock path (taken for TLS it terminates itself) logs malformed request lines.
    certificate = trustme.CA().issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(cert)
    certificate.private_key_pem.write_to_path(key)
    app = our_app(tls=(str(cert), str(key)))
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with context.wrap_socket(connect(app)) as sock:
            sock.sendall(b"GET /li\x00nk/?sesame=AAAAsecretAAAA HTTP/1.1\r\nHost: x\r\n\r\n")
            refused = answer_to(sock)
    finally:
        app.stop()

    assert refused.startswith(b"HTTP/1.1 400 Bad Request")
    assert "Invalid HTTP request line" in app.logs()
    assert "AAAAsecretAAAA" not in app.logs()
