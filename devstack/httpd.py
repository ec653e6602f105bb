"""The local stack's HTTP layer (``devstack.server``): one threading HTTP/1.1 server on loopback, every verb through
one router (``devstack.devapp.DevApp``), a ``GET /v1/realtime`` upgrade handed to Realtime (``devstack.realtime``),
bodies read within limits, protocol errors and route errors in Appwrite's error shape, CORS for loopback pages only.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from . import realtime
from .functions import METHODS, ApiError
from .versions import SERVER_VERSION

if TYPE_CHECKING:
    from .devapp import DevApp

log = logging.getLogger("devstack.server")

VERSION = SERVER_VERSION  # the one version the stack plays (devstack/versions.py)
MAX_BODY = 10 * 1024 * 1024  # Appwrite's own request limit is in this range; stops runaway uploads
SOCKET_TIMEOUT = 15.0  # seconds per socket read/write: a stalled client loses its connection
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}

Response = tuple[int, dict[str, str], bytes]

_LOOPBACK_ORIGIN = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$")


def error_response(code: int, type_: str, message: str) -> Response:
    """Appwrite's error shape; the SDK reads ``message`` and ``type`` from it."""
    body = {"message": message, "code": code, "type": type_, "version": VERSION}
    return code, {"content-type": "application/json"}, json.dumps(body).encode()


def json_response(status: int, obj: Any) -> Response:
    return status, {"content-type": "application/json"}, json.dumps(obj).encode()



def _host_name(host: str) -> str:
    return host.split("]")[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]


# --------------------------------------------------------------------------- HTTP layer


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck request must not keep the process alive at exit
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a burst of new connections (each execution thread opens its own
    # to the REST API) overflowed it and the kernel dropped SYNs, so some requests waited 1 s for a retransmit.
    request_queue_size = 128
    app: DevApp
    realtime: realtime.Realtime | None = None  # the /v1/realtime socket (devstack/realtime.py)
    max_body: int = MAX_BODY
    socket_timeout: float = SOCKET_TIMEOUT


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK's requests reuse connections
    server_version = "devstack"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.socket_timeout  # read by StreamRequestHandler.setup
        super().setup()
        # Headers and body leave in separate writes: without NODELAY, Nagle plus the client's delayed ACK
        # add ~40 ms to every response on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # Method names fixed by BaseHTTPRequestHandler; every verb goes through one router.
    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def _serve(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        if self.server.realtime is not None and realtime.is_request(self.path, headers):
            self._serve_realtime(headers)
            return
        try:
            body = self._read_body(headers)
        except ApiError as exc:
            self.close_connection = True  # the unread body would poison the next request
            self._send(*error_response(exc.code, exc.type, exc.message))
            return
        self._send(*self.server.app.handle(self.command, self.path, headers, body, self.client_address[0]))

    def _serve_realtime(self, headers: dict[str, str]) -> None:
        """Hand the connection to Realtime (``devstack.realtime``); it returns when the socket is done."""
        self.close_connection = True
        if _host_name(headers.get("host", "127.0.0.1")) not in LOOPBACK_HOSTS:  # the DNS-rebinding guard, as for HTTP
            self._send(*error_response(403, "general_access_forbidden", "Only loopback host names are served."))
            return
        assert self.server.realtime is not None
        self.server.realtime.serve(self, headers)

    def _read_body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise ApiError(411, "general_argument_invalid", "Chunked bodies are not read.")
        try:
            length = int(headers.get("content-length", "0") or "0")
        except ValueError:
            raise ApiError(400, "general_argument_invalid", "Invalid Content-Length.") from None
        if length < 0:
            raise ApiError(400, "general_argument_invalid", "Invalid Content-Length.")
        if length > self.server.max_body:
            raise ApiError(413, "general_argument_invalid", f"Body over {self.server.max_body} bytes.")
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in {**headers, **_cors(self.headers.get("origin", ""))}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors found by the stdlib (bad request line, huge headers) as JSON too."""
        self.close_connection = True
        self.request_version = self.protocol_version  # a garbled request line still gets a status line
        status, headers, body = error_response(code, "general_argument_invalid" if code < 500 else
                                               "general_unknown", message or HTTPStatus(code).phrase)
        self.send_response(status)
        self.send_header("content-type", headers["content-type"])
        self.send_header("content-length", str(len(body)))
        self.send_header("connection", "close")
        self.end_headers()
        if getattr(self, "command", "") != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        log.debug("%s %s", self.address_string(), format % args)


def _cors(origin: str) -> dict[str, str]:
    """Let pages served from loopback (the agent console) call the stack; no one else."""
    if not _LOOPBACK_ORIGIN.match(origin):
        return {}
    return {"access-control-allow-origin": origin, "vary": "Origin",
            "access-control-allow-methods": ", ".join(METHODS),
            "access-control-allow-headers": "content-type, x-appwrite-project, x-appwrite-key, "
            "x-appwrite-jwt, x-appwrite-session, x-fallback-cookies, x-appwrite-response-format, x-sdk-version, "
            "x-devstack-user",
            "access-control-allow-credentials": "true",
            "access-control-expose-headers": "x-fallback-cookies",
            "access-control-max-age": "600"}
