"""What an operator watches: the sign-in funnel and the mail, as Prometheus series.

Every gunicorn process counts into files in PROMETHEUS_MULTIPROC_DIR (prometheus-client's
multiprocess mode, set up by config/gunicorn.py); the master serves their sum on METRICS_PORT,
which fly.toml's [metrics] names and its [http_service] does not expose. Labels are few and
fixed (an outcome, a method, a kind, a reason): never an address, an IP, a token or a code, so
a series cannot identify a person and their number stays small.
"""

from prometheus_client import Counter, Gauge, Histogram

SIGN_IN_REQUESTS = Counter(
    "latchkey_sign_in_requests",
    "Presses of the sign-in form, by what came of them.",
    ["outcome"],  # sent, limited_<scope>, challenged, invalid, unavailable
)
EMAILS = Counter(
    "latchkey_emails",
    "Emails, by kind (sign_in, notice, change) and what happened to them.",
    ["kind", "outcome"],  # queued, sent, retried, failed, not_sent; bounced, complained
)
EMAIL_WAIT = Histogram(
    "latchkey_email_wait_seconds",
    "From an email's request to its hand-over to the mail server or provider.",
    ["kind"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 3600),
)
SIGN_INS = Counter("latchkey_sign_ins", "Sign-ins completed, by method.", ["method"])
SIGN_IN_TIME = Histogram(
    "latchkey_sign_in_seconds",
    "From asking for the email to signing in with its code or link.",
    ["method"],
    buckets=(5, 10, 20, 30, 60, 120, 300, 600),
)
REFUSALS = Counter(
    "latchkey_refusals",
    "Refused codes, links and passkeys, by what and why (wrong, expired, used, …).",
    ["what", "reason"],
)
BACKEND_ERRORS = Counter(
    "latchkey_backend_errors",
    "Requests that met Redis or the database failing.",
    ["backend"],
)

# The mail queue, as each process's courier saw it when its sweep began (once a minute,
# accounts/mail/courier.py): the largest of the live processes' readings is served, so one
# process that finds a backlog is enough to show it, and the latest sweep's time says whether
# anyone is looking at all.
QUEUE_DEPTH = Gauge(
    "latchkey_mail_queue_depth",
    "Emails due and not yet handed to the mail server, at the last sweep.",
    multiprocess_mode="livemax",
)
QUEUE_OLDEST = Gauge(
    "latchkey_mail_queue_oldest_seconds",
    "How long the longest-waiting due email had waited, at the last sweep.",
    multiprocess_mode="livemax",
)
QUEUE_SWEPT = Gauge(
    "latchkey_mail_queue_swept_timestamp_seconds",
    "When a courier last swept the mail queue (Unix time).",
    multiprocess_mode="livemax",
)

# What each kind of email is called in the series: sign-in mail, notices, an address's proof.
CHANGE_KINDS = {"address_change_proof", "address_taken"}


def email_kind(kind: str) -> str:
    if kind in {"sign_in", "login_link", "no_account"}:
        return "sign_in"
    return "change" if kind in CHANGE_KINDS else "notice"
