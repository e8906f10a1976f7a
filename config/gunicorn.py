"""gunicorn's settings: `gunicorn -c config/gunicorn.py config.wsgi`."""

import os
import shutil
import tempfile

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"  # noqa: S104 - inside the container
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gthread, except that requests are read whole before a thread takes them: slow clients cost a
# socket, not a thread (config/workers.py).
worker_class = "config.workers.BufferingThreadWorker"
# Open connections per worker, most of them waiting or still being read; fly.toml's hard_limit
# stays below workers x this.
worker_connections = 1000
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# The heartbeat file lives in memory: a slow container disk must not make workers look dead.
worker_tmp_dir = "/dev/shm"  # noqa: S108 - a tmpfs, as gunicorn's docs advise
timeout = 30
# Below fly's kill_timeout (fly.toml), so requests in flight finish before the machine stops.
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then, at staggered times, so a slow leak never takes a machine down.
max_requests = 2000
max_requests_jitter = 200

accesslog = "-"
errorlog = "-"
# %(U)s is the path without its query string: the default %(r)s would log every sign-in token.
# No Referer (%(f)s) either, for the same reason.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'

# gunicorn's runtime control socket is not used here; without it, several instances can share a
# machine (as the tests do) and the app user needs no writable home directory.
control_socket_disable = True


# The operator's series (accounts/metrics.py): each worker process counts into files here, and
# the master serves their sum on METRICS_PORT, which fly.toml's [metrics] scrapes and its
# [http_service] does not expose. 0 picks a free port (tests and the benchmark run several).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - a tmpfs
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="latchkey-metrics-", dir=shm)
    _OWN_METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]
else:
    _OWN_METRICS_DIR = ""
METRICS_PORT = int(os.environ.get("METRICS_PORT") or 9091)


def when_ready(server) -> None:
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    try:
        # Every interface, IPv6 and IPv4 ("::"): fly scrapes over its private IPv6 network, and
        # exposes only [http_service]'s port. Elsewhere, keep this port off the internet.
        metrics_server, _ = start_http_server(METRICS_PORT, addr="::", registry=registry)
    except OSError as error:
        # A monitoring port taken (another gunicorn, a re-exec) must not take sign-in down.
        server.log.warning("No metrics: port %s: %s", METRICS_PORT, error)
        return
    server.log.info("Serving metrics on port %s", metrics_server.server_port)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _OWN_METRICS_DIR:
        shutil.rmtree(_OWN_METRICS_DIR, ignore_errors=True)


def on_starting(server) -> None:
    """gunicorn's own error log quotes malformed request lines: never their query strings."""
    from config.log_redaction import RedactQueryStrings

    server.log.error_log.addFilter(RedactQueryStrings())


def post_worker_init(worker) -> None:
    """Each worker process sends the mail its requests queue (accounts/mail/courier.py), and
    sweeps the queue for what no process got to: at once, then once a minute."""
    from django.apps import apps

    if apps.is_installed("accounts"):  # not in the benchmark's reference project
        from accounts.mail.courier import courier

        courier.start()


def worker_exit(server, worker) -> None:
    """On the way out (SIGTERM, recycling), send the emails this process's last requests handed
    it (for a second) and finish the one in hand; the sweep of another process, or of this
    machine's next start, sends the rest."""
    from django.apps import apps

    if apps.ready and apps.is_installed("accounts"):
        from accounts.mail.courier import courier

        # Time for one slow email (each of its commands may take EMAIL_TIMEOUT), within fly's
        # kill_timeout and gunicorn's graceful_timeout (20 s); one cut short is sent again by a
        # later sweep (accounts/mail/courier.py).
        courier.stop(timeout=min(3 * int(os.environ.get("EMAIL_TIMEOUT") or 10), 15))
