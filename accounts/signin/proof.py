"""A proof of work, asked of a browser before a sign-in email goes where a stop would be unfair.

A crowded network (an office, a school, a mobile carrier behind one address) spends its allowance
of emails with ordinary people; refusing the next person would lock them out for being there.
So past the allowance the browser proves some work first: ALTCHA (the maintained `altcha`
package here, its widget in the browser, no third party, no cookie). The work costs a person a
second or two once; it costs whoever sends thousands of emails thousands of times that.

Each challenge is signed with a key derived from SECRET_KEY, expires with CHALLENGE_SECONDS,
is bound to the form it was given for (`data.form`), and is spent in Redis when answered, so a
solution works once. The server's own work is one key derivation to make a challenge and one
HMAC to check an answer (the derived key is signed: `hmac_key_secret`).
"""

import json
import secrets
import time

import altcha
from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac
from redis.exceptions import RedisError

from accounts.limits import LimitsUnavailable

CHALLENGE_SECONDS = 5 * 60
ALGORITHM = "SHA-256"


def _keys() -> tuple[bytes, bytes]:
    """The challenge's signing key and the derived key's, from SECRET_KEY (never stored)."""
    signing_key = salted_hmac("accounts.proof:challenge", "altcha", algorithm="sha256").digest()
    key_key = salted_hmac("accounts.proof:key", "altcha", algorithm="sha256").digest()
    return signing_key, key_key


def challenge_for(form: str, network: str) -> str:
    """A new challenge, as the JSON the widget takes, for the form named `form`, given to
    `network` (accounts/limits.py): answers cannot be collected elsewhere and spent here."""
    signing_key, key_key = _keys()
    challenge = altcha.create_challenge(
        ALGORITHM,
        cost=settings.PROOF_OF_WORK_COST,
        # The answer the browser must find: a counter below this, searched from zero.
        counter=secrets.randbelow(settings.PROOF_OF_WORK_MAX_NUMBER) + 1,
        expires_at=int(time.time()) + CHALLENGE_SECONDS,
        data={"form": form, "network": network},
        hmac_secret=signing_key,
        hmac_key_secret=key_key,
    )
    return json.dumps(challenge.to_dict())


def proven(payload: str, form: str, network: str) -> bool:
    """Whether `payload` answers a challenge of ours for this form and network, in time, for the
    first time.

    LimitsUnavailable when Redis cannot say whether it was answered before.
    """
    if not payload or len(payload) > 4000:
        return False
    signing_key, key_key = _keys()
    try:
        result = altcha.verify_solution(payload, signing_key, hmac_key_secret=key_key)
        parameters = altcha.Payload.from_base64(payload).challenge.parameters
    except (ValueError, TypeError, KeyError, AttributeError):
        return False
    given = parameters.data or {}
    if not result.verified or given.get("form") != form or given.get("network") != network:
        return False
    try:
        return bool(cache.add(f"proof:spent:{parameters.nonce}", 1, CHALLENGE_SECONDS + 60))
    except RedisError as error:
        raise LimitsUnavailable from error
