"""The front door: whether a sign-in email may go now, and what the browser must do first.

Four counters, all moving windows in Redis (accounts/limits.py), each for a different harm:

- **The address** (RATE_LIMIT_PER_ADDRESS): nobody's inbox is flooded. Past it, a stop (429):
  this protects the victim, and no proof of work from the sender changes that.
- **The network** (RATE_LIMIT_PER_IP, an IPv4 address or an IPv6 /64; and its /48 at
  RATE_LIMIT_PER_WIDE_NETWORK): one sender cannot mail the world. Past it, a step before a stop:
  the browser proves some work (accounts/signin/proof.py), and the email goes. Only past ten times
  the allowance (HARD_CAP_FACTOR) is it a 429: a crowded office gets everyone's email, a mail
  cannon pays for each one.
- **The site** (RATE_LIMIT_SITE, emails sent by the whole site): complaints from a flood would
  get the sending account suspended, and then nobody's email arrives. Past half of it every new
  request needs the proof; past all of it only addresses with an account get mail (the worker
  decides, so the page answers the same for everyone), and the operator is told once an hour.
- **Form spam** (RATE_LIMIT_FORMS_PER_IP, every submission): counted before anything else.
"""

import logging
import re
import smtplib
from enum import StrEnum

from django.conf import settings
from django.core.cache import cache
from django.core.mail import mail_admins
from django.http import HttpRequest
from django.tasks import task
from limits import RateLimitItem
from limits.errors import StorageError
from redis.exceptions import RedisError

from accounts.client_ip import client_ip
from accounts.limits import (
    LimitsUnavailable,
    RateLimited,
    count,
    network_of,
    rate,
    remaining,
    scaled,
    took,
    wide_network_of,
)
from accounts.mail.retry import describe
from accounts.records.log import log_event
from accounts.signin.proof import proven

# Past this many times a network's allowance, even a proof of work sends nothing.
HARD_CAP_FACTOR = 10
# The operator hears of a spent site budget at most this often.
ALERT_SECONDS = 60 * 60


class Step(StrEnum):
    SEND = "send"
    PROVE = "prove"  # the browser proves some work first, then the email goes
    ACCOUNTS_ONLY = "accounts only"  # the site's budget is spent: mail for accounts only


def admit(request: HttpRequest, address: str, proof: str, form: str = "sign-in") -> Step:
    """Decide, and count, one email to `address` asked from this request; RateLimited for a stop.

    Nothing is counted unless the email is to go (SEND or ACCOUNTS_ONLY). The address change
    (form "change") is a signed-in, freshly signed-in person: the site's budget asks no proof
    of it and never holds its email back.
    """
    ip = client_ip(request)
    mine, allowances, hard_caps, site = _counters(ip, address)
    # Looked at first, without counting: a stop, or a step, before anything is spent.
    for counter in mine:
        count(*counter, scope="address", hit=False)
    for counter in hard_caps:
        count(*counter, scope="network", hit=False)
    over = any(remaining(*counter) == 0 for counter in allowances)
    if over and form == "change":
        # The address change has no proof step: past the allowance it is a stop, saying when.
        for counter in allowances:
            count(*counter, scope="network", hit=False)
    busy = form != "change" and remaining(*site) < site[0].amount / 2
    proven_work = (over or busy) and proven(proof, form, network_of(ip))
    if (over or busy) and not proven_work:
        return Step.PROVE
    if not _counted(mine, hard_caps, allowances, proven_work):
        return Step.PROVE
    # The site's budget is decided by its own atomic count: a burst at its edge cannot all
    # read "one left" and all send (found 2026-12-06: a budget of 10 sent 13).
    if not took(*site) and form != "change":
        _tell_the_operator_once_an_hour()
        return Step.ACCOUNTS_ONLY
    return Step.SEND


Counter = tuple[RateLimitItem, str, str]


def _counters(ip: str, address: str) -> tuple[list[Counter], list[Counter], list[Counter], Counter]:
    """This address's counters (as typed, and its mailbox without a +tag); the network's
    allowances (its /64 or IPv4, and its /48); the hard cap of its /64 or IPv4 only (a /48 is
    many customers: one of them must not stop the rest); the site's."""
    mailbox = re.sub(r"\+[^@]*@", "@", address)
    mine = [
        (rate(settings.RATE_LIMIT_PER_ADDRESS), "login-link:address", address),
        (rate(settings.RATE_LIMIT_PER_MAILBOX), "login-link:mailbox", mailbox),
    ]
    allowances = [(rate(settings.RATE_LIMIT_PER_IP), "login-link:network", network_of(ip))]
    if wide := wide_network_of(ip):
        allowances.append((rate(settings.RATE_LIMIT_PER_WIDE_NETWORK), "login-link:wide", wide))
    item, group, key = allowances[0]
    hard_caps = [(scaled(item, HARD_CAP_FACTOR), f"{group}:hard", key)]
    return mine, allowances, hard_caps, (rate(settings.RATE_LIMIT_SITE), "login-link:site", "all")


def _counted(
    mine: list[Counter], hard_caps: list[Counter], allowances: list[Counter], proven_work: bool
) -> bool:
    """Count the send, each counter in one atomic step, so a burst cannot slip past a look taken
    before another request's count: the address first (its limit is a stop, whatever the
    network), then the hard caps, then the allowances. False: an allowance filled meanwhile,
    and no work was proven (the browser is asked for it after all)."""
    for counter in mine:
        count(*counter, scope="address")
    for counter in hard_caps:
        count(*counter, scope="network")
    for counter in allowances:
        try:
            count(*counter, scope="network")
        except RateLimited:
            if not proven_work:
                return False
    return True


def _tell_the_operator_once_an_hour() -> None:
    try:
        first = cache.add("front-door:site-budget-alerted", 1, timeout=ALERT_SECONDS)
    except (RedisError, StorageError) as error:
        raise LimitsUnavailable from error
    if first:
        log_event("site_budget_spent", level=logging.WARNING, budget=settings.RATE_LIMIT_SITE)
        tell_operators.enqueue()


@task()
def tell_operators() -> str:
    try:
        mail_admins(
            "The sign-in email budget is spent",
            f"{settings.SITE_NAME} has sent RATE_LIMIT_SITE ({settings.RATE_LIMIT_SITE}) "
            "sign-in emails. Until the window moves on, only addresses with an account get "
            "mail; new addresses are asked to try later, and every request solves a proof of "
            "work first. If this is real demand, raise RATE_LIMIT_SITE; if it is a flood, look "
            "at the rate_limited and proof_asked log lines.",
        )
    except (smtplib.SMTPException, OSError) as error:
        # The log line above already said it; the mail was the second way to hear.
        log_event("operators_not_mailed", level=logging.WARNING, problem=describe(error))
        return "not mailed"
    return "told"
