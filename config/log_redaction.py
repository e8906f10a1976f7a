"""No log line holds a query string, and no record of a task's failure carries its frames.

On /link/ a query string is a sign-in token. Our own events never log one, and gunicorn's
access log prints paths only (config/gunicorn.py), but other messages can quote a request line:
gunicorn warns "Invalid HTTP request line: 'GET /link/?sesame=…'" for malformed requests.
RedactQueryStrings sits on every handler we configure; TracebackAsText on the loggers that
report failures outside a request (ours, the tasks').
"""

import logging
import re
import traceback

QUERY_STRING = re.compile(r"\?[^\s'\"]+")


class RedactQueryStrings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg = QUERY_STRING.sub("?[query removed]", message)
            record.args = ()
        return True


class TracebackAsText(logging.Filter):
    """A record's exception becomes its traceback's text, and the record carries it no more.

    On the loggers of mail (config/settings.py): their frames hold the email being sent,
    its link and code, and a reporter an operator adds (AdminEmailHandler with HTML, Sentry)
    shows every frame's local variables. Outside a request there is no request to scrub by
    (config/error_reports.py); the text keeps what an operator needs: where, and what.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.msg = f"{record.getMessage()}\n{text.rstrip()}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True
