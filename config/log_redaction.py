"""No log line holds a query string: on /link/ a query string is a sign-in token.

Our own events never log one, and gunicorn's access log prints paths only (config/gunicorn.py),
but other messages can quote a request line: gunicorn warns "Invalid HTTP request line:
'GET /link/?sesame=…'" for malformed requests. This filter sits on every handler we configure.
"""

import logging
import re

QUERY_STRING = re.compile(r"\?[^\s'\"]+")


class RedactQueryStrings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg = QUERY_STRING.sub("?[query removed]", message)
            record.args = ()
        return True
