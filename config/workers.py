"""gunicorn's threaded worker, reading each request whole before a thread takes it.

gunicorn's gthread worker hands a connection to one of its few threads as soon as the first
byte arrives, and the thread then reads headers and body with blocking calls. A client that
drips a byte every two seconds holds that thread as long as it likes: in the attack review 12
such connections froze a machine of 8 threads. gunicorn's documentation assumes a buffering
proxy in front (nginx). fly.io's proxy is not one we can count on: its documentation promises
no request buffering, and its concurrency limits count requests, slow ones included.

So the worker does what such a proxy would. Its event loop, which already waits on every idle
connection, also reads requests without blocking; h11 (the HTTP/1.1 parser httpx and uvicorn
use) says when one is complete; only then does a thread take it, with every byte in memory.
A slow connection costs a socket and its bytes, never a thread. A request not complete
within READ_TIMEOUT is answered 408 and closed, one larger than MAX_REQUEST_BYTES 413, one
h11 cannot parse 400: none of them reaches the app or a log line.

Connections that gunicorn wraps in TLS itself (only our browser tests do that; in production
fly's proxy terminates TLS) keep gunicorn's own path.
"""

import errno
import selectors
import socket
import time
from functools import partial

import h11
from gunicorn.workers.gthread import TConn, ThreadWorker

READ_TIMEOUT = 10.0  # seconds from connecting (or from the first byte on a kept-alive one)
MAX_REQUEST_BYTES = 1024 * 1024  # our forms are tiny; Django would refuse 2.5 MB anyway

REFUSALS = {
    400: b"HTTP/1.1 400 Bad Request",
    408: b"HTTP/1.1 408 Request Timeout",
    413: b"HTTP/1.1 413 Content Too Large",
}


class BufferingThreadWorker(ThreadWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reading: dict[TConn, float] = {}  # connection -> deadline

    def accept(self, listener) -> None:
        if self.cfg.is_ssl:
            return super().accept(listener)
        try:
            sock, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return None
        self.nr_conns += 1
        self._start_reading(TConn(self.cfg, sock, address, listener.getsockname()))
        return None

    def on_client_socket_readable(self, conn: TConn, client) -> None:
        """A kept-alive connection has bytes: read its next request the same way."""
        if self.cfg.is_ssl:
            return super().on_client_socket_readable(conn, client)
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn)
        return None

    def _start_reading(self, conn: TConn) -> None:
        conn.sock.setblocking(False)
        conn.request_bytes = bytearray()
        conn.request_parser = h11.Connection(h11.SERVER)
        self.reading[conn] = time.monotonic() + READ_TIMEOUT
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._read_more, conn))

    def _read_more(self, conn: TConn, _sock) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return self._close(conn)
        if not data:
            return self._close(conn)
        conn.request_bytes += data
        if len(conn.request_bytes) > MAX_REQUEST_BYTES:
            return self._refuse(conn, 413)
        parser = conn.request_parser
        parser.receive_data(data)
        try:
            while (event := parser.next_event()) is not h11.NEED_DATA:
                if isinstance(event, h11.EndOfMessage):
                    return self._hand_to_a_thread(conn)
        except h11.RemoteProtocolError:
            return self._refuse(conn, 400)
        if parser.they_are_waiting_for_100_continue:
            # The client holds its body back until told to send it (RFC 9110 10.1.1).
            conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            parser.send(h11.InformationalResponse(status_code=100, headers=[]))
        return None

    def _hand_to_a_thread(self, conn: TConn) -> None:
        self.poller.unregister(conn.sock)
        del self.reading[conn]
        conn.data_ready = True  # gunicorn need not wait for the first byte
        self.enqueue_req(conn)

    def handle(self, conn: TConn):
        """In a thread: give gunicorn's parser the bytes already read, then serve as usual."""
        buffered = getattr(conn, "request_bytes", None)
        if buffered:
            conn.request_bytes = None
            conn.request_parser = None
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(bytes(buffered))
        return super().handle(conn)

    def murder_pending(self) -> None:
        """Run by gunicorn's loop every second: also end requests that are too slow."""
        super().murder_pending()
        now = time.monotonic()
        for conn in [conn for conn, deadline in self.reading.items() if deadline < now]:
            self._refuse(conn, 408)

    def _refuse(self, conn: TConn, status: int) -> None:
        try:
            # Unread bytes at close() make the kernel send a reset, which can cost the client
            # the answer: read what is there first, then answer and half-close.
            while conn.sock.recv(65536):
                pass
        except OSError:
            pass
        try:
            conn.sock.send(REFUSALS[status] + b"\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._close(conn)

    def _close(self, conn: TConn) -> None:
        self.poller.unregister(conn.sock)
        del self.reading[conn]
        self.nr_conns -= 1
        conn.close()
