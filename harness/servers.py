"""Real servers for the tests and the benchmark: redis-server, PostgreSQL, an SMTP server, and
our app as fly.toml runs it (gunicorn and the mail worker).

Each runs on a free loopback port, in a temporary folder, and is stopped by whoever started it.
"""

import asyncio
import email
import email.policy
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.cookiejar import CookieJar
from pathlib import Path

import httpx
import psycopg
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent

# Every folder and log these helpers make lives in here; whoever starts them removes it at the
# end with remove_scratch() (the suite in tests/environment.py, the benchmark in bench/).
SCRATCH = Path(tempfile.mkdtemp(prefix="latchkey-servers-"))
SCRATCH.chmod(0o711)  # PostgreSQL, run as postgres under root, must reach its folder inside


def remove_scratch() -> None:
    shutil.rmtree(SCRATCH, ignore_errors=True)


def _ephemeral_ports_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A loopback port nothing listens on, from below the kernel's ephemeral range.

    The kernel's own choice (binding port 0) comes from that range, where the port is free only
    until an outgoing connection takes it as its local port; a server started later (PostgreSQL
    starts on first use) would then fail to bind it. From 20000 up: browsers refuse a few
    lower ports outright (Chromium: 10080 gives ERR_UNSAFE_PORT). Drawn from the system's
    randomness, not `random`, which pytest-randomly seeds alike in every test process.
    """
    low, high = 20000, _ephemeral_ports_start()
    for _ in range(200):
        port = low + secrets.randbelow(high - low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port between {low} and {high}")


def wait_for_port(port: int, timeout: float = 20.0, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {timeout} s")


def wait_for_line(
    log: Path, text: str, process: subprocess.Popen, after: int = 0, timeout: float = 20.0
) -> None:
    """Wait until a process announces readiness in its log, past the first `after` characters."""
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace")[after:]:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before saying {text!r}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {text!r} within {timeout} s")
        time.sleep(0.05)


def production_processes() -> dict[str, list[str]]:
    """fly.toml's [processes]: what production runs, as commands for this interpreter."""
    processes = tomllib.loads((ROOT / "fly.toml").read_text())["processes"]
    programs = {"gunicorn": [sys.executable, "-m", "gunicorn"], "python": [sys.executable]}
    commands = {name: shlex.split(line) for name, line in processes.items()}
    return {name: programs[argv[0]] + argv[1:] for name, argv in commands.items()}


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RedisServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="redis-", dir=SCRATCH)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run scripts/test, which installs it")
        self.process = subprocess.Popen(
            [
                binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self.folder,
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port, process=self.process)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


class PostgresServer:
    """A throwaway cluster. PostgreSQL refuses to run as root, so as root it runs as postgres."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="postgres-", dir=SCRATCH))
        self.data = self.folder / "data"
        self.process: subprocess.Popen | None = None
        self.user = "postgres"

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/latchkey"

    def _owner(self):
        """As root, run the server as postgres (the process itself, so signals reach it)."""
        if os.geteuid() != 0:
            return None
        owner = pwd.getpwnam("postgres")
        shutil.chown(self.folder, user="postgres")

        def become_postgres() -> None:
            os.setgid(owner.pw_gid)
            os.setuid(owner.pw_uid)

        return become_postgres

    def start(self) -> "PostgresServer":
        binaries = _postgres_binaries()
        if not self.data.exists():
            subprocess.run(
                [str(binaries / "initdb"), "-D", str(self.data), "-U", self.user,
                 "--auth=trust", "--encoding=UTF8", "--no-sync"],
                check=True,
                stdout=subprocess.DEVNULL,
                cwd=self.folder,
                preexec_fn=self._owner(),  # noqa: PLW1509
            )  # fmt: skip
        log = self.folder / "postgres.log"
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                [str(binaries / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-h", "127.0.0.1", "-k", str(self.folder), "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=200"],
                stdout=output,
                stderr=output,
                cwd=self.folder,
                preexec_fn=self._owner(),  # noqa: PLW1509
            )  # fmt: skip
        try:
            wait_for_port(self.port, process=self.process)
            self._wait_until_it_accepts_connections()
        except (RuntimeError, psycopg.OperationalError) as error:
            # Whatever stopped it (a port taken, a full disk) is in its own words, in its log.
            said = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL did not start on port {self.port}:\n{said}") from error
        return self

    def _wait_until_it_accepts_connections(self, timeout: float = 20.0) -> None:
        """An open port is not a ready server: it answers "the database system is starting
        up" for a moment after it listens, longer on a busy machine."""
        deadline = time.monotonic() + timeout
        address = f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"
        while True:
            try:
                psycopg.connect(address, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def ready(self) -> "PostgresServer":
        """Started, on first use: a run that never touches the database never starts it."""
        if self.process is None:
            self.start()
        return self

    def stop(self) -> None:
        if self.process is not None:
            # SIGINT is PostgreSQL's "fast shutdown": it ends open connections.
            stop_process(self.process, signal.SIGINT)
            self.process = None


def _postgres_binaries() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "postgres").exists():
            return candidate
    raise RuntimeError("PostgreSQL server binaries (initdb, postgres) are not installed")


@dataclass
class Mailbox:
    """What the SMTP server received, parsed the way a mail client would."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    by_recipient: dict[str, list[EmailMessage]] = field(default_factory=dict)
    # Every sign-in token ever mailed, kept across clear(): no log may ever show one.
    issued_tokens: set[str] = field(default_factory=set)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    # Seconds the server stalls before accepting a message: a slow mail server.
    delay: float = 0.0
    # Replies for the next messages instead of accepting them, such as "451 4.3.0 Try later".
    refusals: list[str] = field(default_factory=list)
    # Each message's start (its DATA command), accepted or not.
    attempts: int = 0
    # The client's address and port for each accepted message: one connection, one port.
    peers: list[tuple[str, int]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's name
        with self.arrived:
            self.attempts += 1
            self.arrived.notify_all()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refusals:
            return self.refusals.pop(0)
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        if text is not None:
            # Sign-in links and address-change links: neither token may reach a log.
            found = re.findall(r"(?:sesame|change|restore|refuse)=([\w.:-]+)", text.get_content())
            self.issued_tokens.update(found)
        with self.arrived:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.peers.append(session.peer)
            for recipient in envelope.rcpt_tos:
                self.by_recipient.setdefault(recipient, []).append(message)
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        self.delay = 0.0
        self.refusals.clear()
        with self.arrived:
            self.attempts = 0
            self.messages.clear()
            self.envelopes.clear()
            self.peers.clear()
            self.by_recipient.clear()

    def message_to(self, address: str, timeout: float = 10.0, subject: str = "") -> EmailMessage:
        """The first email to `address` (whose subject holds `subject`), waiting for it."""

        def arrived() -> EmailMessage | None:
            mail = self.by_recipient.get(address, [])
            return next((m for m in mail if subject in (m["Subject"] or "")), None)

        with self.arrived:
            if not self.arrived.wait_for(arrived, timeout):
                raise AssertionError(f"no email arrived for {address}")
            return arrived()

    def wait_for_attempts(self, count: int, timeout: float = 10.0) -> None:
        """Wait until `count` messages have started, whatever the server answers them."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: self.attempts >= count, timeout):
                raise AssertionError(f"expected {count} attempts, got {self.attempts}")

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} emails, got {len(self.messages)}")
            return list(self.messages)


class SmtpServer:
    """An SMTP server on loopback; with `starttls`, it offers STARTTLS as a real provider does.

    Its certificate comes from a test CA, appended to the system's CA bundle in `ca_bundle`:
    a client given that file (SSL_CERT_FILE) verifies the server and loads as many CA
    certificates as it would in production.
    """

    def __init__(self, starttls: bool = False) -> None:
        self.port = free_port()
        self.mailbox = Mailbox()
        self.controller: Controller | None = None
        self.tls_context: ssl.SSLContext | None = None
        self.ca_bundle: Path | None = None
        if starttls:
            self._make_certificates()

    def _make_certificates(self) -> None:
        import trustme

        authority = trustme.CA()
        self.tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("127.0.0.1").configure_cert(self.tls_context)
        self.ca_bundle = Path(tempfile.mkdtemp(prefix="smtp-", dir=SCRATCH)) / "ca-bundle.pem"
        system_bundle = Path(ssl.get_default_verify_paths().openssl_cafile)
        self.ca_bundle.write_bytes(
            (system_bundle.read_bytes() if system_bundle.exists() else b"")
            + authority.cert_pem.bytes()
        )

    def start(self) -> "SmtpServer":
        tls = {"tls_context": self.tls_context} if self.tls_context else {}
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **tls)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def leaked_tokens(text: str) -> list[str]:
    """The sign-in tokens mailed so far that appear in `text`."""
    return [token for token in AppServer.issued_tokens if token in text]


class AppServer:
    """Our app the way production runs it: every process fly.toml lists, with DEBUG off.

    That is gunicorn ("app"), whose worker processes also send the mail their requests queue
    (accounts/mail/courier.py).
    """

    # Every sign-in token mailed so far (the suite's mailbox fills it): none may reach a log.
    issued_tokens: set[str] = set()

    def __init__(
        self, env: dict[str, str], port: int | None = None, tls: tuple[str, str] | None = None
    ) -> None:
        self.port = port or free_port()
        self.env = env
        self.tls = tls
        self.commands = production_processes()
        self.process: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(
            prefix="gunicorn-", suffix=".log", dir=SCRATCH, delete=False
        )

    @property
    def origin(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, **self.env, "PORT": str(self.port)}
        for test_only in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"):
            env.pop(test_only, None)
        return env

    def start(self) -> "AppServer":
        """Start it (again, after stop(), on the same port)."""
        env = self._environment()
        if self.tls:
            # TLS in gunicorn itself stands in for fly's proxy, so a browser sees real HTTPS.
            certificate, key = self.tls
            env["GUNICORN_CMD_ARGS"] = f"--certfile {certificate} --keyfile {key}"
        self.process = subprocess.Popen(
            self.commands["app"], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for_port(self.port, process=self.process)
        return self

    def stop(self) -> None:
        """SIGTERM, as fly stops a machine: requests in flight and the email in hand finish."""
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process)
        self.process = None
        self.check_logs()

    def check_logs(self) -> None:
        """No line these processes logged holds a token, nor any query string of a link."""
        text = Path(self.log.name).read_text(errors="replace")
        assert "sesame=" not in text, f"a query string in {self.log.name}"
        assert not leaked_tokens(text), f"a sign-in token in {self.log.name}"

    def logs(self) -> str:
        """gunicorn's log: its requests, and the mail its workers sent."""
        return Path(self.log.name).read_text(errors="replace")

    def web_logs(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def client(self, **kwargs) -> httpx.Client:
        """A browser as the app sees it behind fly's proxy, which terminates TLS and says so.

        The app's cookies are Secure; the proxy hop is plain HTTP, so they are sent anyway, as
        the browser would on its HTTPS side.
        """
        jar = CookieJar()

        def send_every_cookie(request: httpx.Request) -> None:
            if len(jar):
                request.headers["Cookie"] = "; ".join(f"{c.name}={c.value}" for c in jar)

        def keep_cookies(response: httpx.Response) -> None:
            httpx.Cookies(jar).extract_cookies(response)

        return httpx.Client(
            base_url=self.origin,
            headers={"X-Forwarded-Proto": "https", "Origin": self.site_url},
            event_hooks={"request": [send_every_cookie], "response": [keep_cookies]},
            timeout=30,
            # Idle connections are dropped before gunicorn's 5 s keepalive ends them, as a proxy
            # does: otherwise a request can meet a connection the server is closing.
            limits=httpx.Limits(keepalive_expiry=2),
            **kwargs,
        )

    @property
    def site_url(self) -> str:
        return self.env.get("SITE_URL", "")
