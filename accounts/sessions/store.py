"""Django's database sessions, with fewer round trips to the database at sign-in.

This is `django.contrib.sessions.backends.db` (SESSION_ENGINE points here): the same rows,
signing, expiry and cookie. At sign-in Django looks a new key up, writes the session twice
(the anonymous data under the new key, then again with the user), and reads the old row before
deleting it and its dependants: 13 of the confirm step's 20 statements were the session's.
Five things differ, each doing the same work with fewer statements:

- A new key is not looked up first: the INSERT that creates the row is the check. A collision
  (32 characters from 36, about 165 bits) makes that INSERT fail with CreateError, and Django's
  own `create()` draws another key, as it does today when the lookup races another insert.
- `cycle_key()`, which `login()` calls so that a signed-in browser gets a new key, deletes the
  old row at once, as Django does, but leaves the new one to the first save. Django would write
  the anonymous data under the new key and then write it again with the user in it.
- Deleting a session is one DELETE; the database deletes its SignedInBrowser row itself
  (`on_delete=DB_CASCADE`). Django would read the row, then delete its dependants and the row
  in a transaction.
- A save that would write exactly what this request already wrote does not write again; the
  cookie is still sent. `sign_in_browser()` saves before it records the browser (whose row
  points at the session's), and the middleware's save after the view has nothing new to write.
- A write on its own is one statement, not BEGIN, the statement and COMMIT: one INSERT or
  UPDATE is a transaction already, and a failed one leaves nothing to undo. Inside a sign-in's
  transaction (accounts/signin/finish.py) it keeps Django's savepoint.
"""

import copy
from contextlib import nullcontext

from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, UpdateError
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import DatabaseError, IntegrityError, router, transaction
from django.utils.crypto import get_random_string


class SessionStore(DatabaseSessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        # (key, data) as this store last wrote them.
        self._written: tuple[str, dict] | None = None

    def _get_new_session_key(self) -> str:
        return get_random_string(32, VALID_KEY_CHARS)

    def cycle_key(self) -> None:
        data = self._session
        key = self.session_key
        self._session_key = None
        self._session_cache = data
        self.modified = True
        if key:
            self.delete(key)

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)
        if not must_create and self._written == (self.session_key, data):
            return
        self._write(data, must_create)
        # A copy: a value changed in place afterwards must not look already written.
        self._written = (self.session_key, copy.deepcopy(data))

    def _write(self, data: dict, must_create: bool) -> None:
        """Django's save, without a transaction around the one statement when it is alone."""
        obj = self.create_model_instance(data)
        using = router.db_for_write(self.model, instance=obj)
        # Inside a transaction (a sign-in's), a savepoint, as Django has: a key drawn twice or
        # a row gone must not spoil the statements around it.
        in_transaction = transaction.get_connection(using).in_atomic_block
        try:
            with transaction.atomic(using) if in_transaction else nullcontext():
                obj.save(force_insert=must_create, force_update=not must_create, using=using)
        except IntegrityError:
            if must_create:
                raise CreateError from None  # create() draws another key
            raise
        except DatabaseError:
            if not must_create:
                raise UpdateError from None  # the row is gone: signed out meanwhile
            raise

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self.model.objects.filter(session_key=session_key).delete()
