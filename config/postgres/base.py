"""Django's PostgreSQL backend, with a deadline on every wait for the server.

`statement_timeout` (config/settings.py) makes a live server give up on a slow query. A server
that is frozen (paused, swapped out, its disk stalled) answers nothing at all, and psycopg would
wait for ever: the kernel still acknowledges our packets, so TCP keepalives never fire either.
Here each wait gives up after DATABASE_TIMEOUT plus a little, so that a live server's own
cancellation comes first. The connection is then closed, because its state is unknown, and
Django sees an OperationalError, which config/errors.py answers with a 503 page. The next
request connects again, within `connect_timeout`.
"""

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base

# psycopg raises this (an OperationalError) when a wait's timeout passes; it has no public name.
WaitTimeout = psycopg.errors._WaitTimeout

# How much longer than statement_timeout we wait for the server to say it cancelled.
GRACE = 0.5


class DeadlineConnection(psycopg.Connection):
    """A psycopg connection whose every wait for the server has a deadline."""

    def wait(self, gen, interval=0.1, timeout=None):
        if timeout is None and settings.DATABASE_TIMEOUT:
            timeout = settings.DATABASE_TIMEOUT + GRACE
        try:
            return super().wait(gen, interval, timeout)
        except WaitTimeout:
            self.pgconn.finish()  # Mid-query, the protocol state is unknown: never reuse it.
            raise psycopg.OperationalError(
                f"the database did not answer within {timeout:g} s"
            ) from None


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        # Django opens the connection with psycopg.connect(); the subclass only adds the
        # deadline to wait(), so the object can take its class once it is open.
        connection.__class__ = DeadlineConnection
        return connection
