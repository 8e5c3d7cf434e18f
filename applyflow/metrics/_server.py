"""The exporter's HTTP server: ``/metrics`` in the Prometheus text format, behind an optional
bearer token, on loopback unless a token is set."""

from __future__ import annotations

import hmac
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from applyflow.settings import is_loopback

__all__ = ["TOKEN_ENV", "MetricsServer", "binding_refusal"]

TOKEN_ENV = "APPLYFLOW_METRICS_TOKEN"

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def binding_refusal(host: str, token: str | None) -> str | None:
    """Why serving on ``host`` is refused (beyond loopback without a token), else None."""
    if is_loopback(host) or token:
        return None
    return (
        f"refusing to serve metrics on {host or 'all interfaces'}: anyone who can reach it "
        f"would see your spend and applications. Set {TOKEN_ENV} (Prometheus then sends it as "
        "a bearer token), or bind to 127.0.0.1."
    )


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:  # one line per scrape is noise
        return


def _guarded(app: Callable[..., Iterable[bytes]], token: str | None) -> Callable[..., Any]:
    """``/metrics`` only; with a token, only for ``Authorization: Bearer <token>``."""
    expected = f"Bearer {token}".encode() if token else None

    def wsgi(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "/") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"applyflow exporter: the series are at /metrics\n"]
        sent = environ.get("HTTP_AUTHORIZATION", "").encode()
        if expected is not None and not hmac.compare_digest(sent, expected):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="applyflow"')],
            )
            return [b"a bearer token is required\n"]
        return app(environ, start_response)

    return wsgi


class MetricsServer:
    """Serves ``registry`` on ``host:port`` (port 0: any free port) from a thread or in the
    foreground. ``OSError`` when the address cannot be bound."""

    def __init__(
        self, registry: CollectorRegistry, host: str, port: int, token: str | None = None
    ) -> None:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        server_class = type("Server", (ThreadingWSGIServer,), {"address_family": family})
        app = _guarded(make_wsgi_app(registry), token)
        self._httpd = make_server(host, port, app, server_class, handler_class=_Quiet)
        self.host, self.port = host, self._httpd.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def start(self) -> MetricsServer:
        """Serve from a daemon thread (beside `applyflow serve`)."""
        self._thread = threading.Thread(target=self.serve_forever, name="metrics", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()
