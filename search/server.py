"""``python -m search serve``: the built site plus a JSON search API, in one process.

- ``GET /api/search?q=...&k=...``: the same result objects as ``query --json``
  (a JSON list); bad input gets a 4xx with ``{"error": "..."}``.
- ``GET /api/answer?q=...&k=...``: ``{"results": [the same list], "covered": bool, "relevance": float}``,
  whether an article covers the query at all (``search.scope``; null for both with ``--dense-only``);
  the list shape of ``/api/search`` stays for the clients that read it.
- ``GET /healthz``: model, counts, ``"status": "ok"``.
- ``GET /_static/kb-search/engine.json``: ``{"engine": "server"}``, so the search page asks this
  API instead of running the model in the browser (the static build's copy says ``"browser"``).
- anything else: files from the built site (``_build/html``).

The port is bound first (a busy port is reported at once, not after minutes of loading), the
model and index are loaded once, and only then does the port accept connections. Requests run on
threads (``ThreadingHTTPServer``): the index is read-only after loading, and the embedder
serialises its model runs itself.
"""
from __future__ import annotations

import errno
import json
import sys
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote_to_bytes

from search.query import MAX_K, MAX_QUERY_CHARS, QueryError

DEFAULT_K = 10


# The search page asks this file which engine answers (book/_static/kb-search/search.mjs).
ENGINE_FILE = b"/_static/kb-search/engine.json"


class BadRequest(ValueError):
    pass


def parse_search_params(raw_query: bytes) -> tuple[str, int]:
    """q and k from the raw query string; percent-escapes must decode to UTF-8."""
    params: dict[str, str] = {}
    for pair in raw_query.split(b"&"):
        key, _, value = pair.partition(b"=")
        try:
            k, v = (unquote_to_bytes(x.replace(b"+", b" ")).decode("utf-8") for x in (key, value))
        except UnicodeDecodeError as e:
            raise BadRequest("the query string is not valid UTF-8") from e
        params.setdefault(k, v)
    q = params.get("q", "")
    if not q.strip():
        raise BadRequest("missing or empty query: use /api/search?q=...")
    if len(q) > MAX_QUERY_CHARS:
        raise BadRequest(f"the query is {len(q)} characters long; the limit is {MAX_QUERY_CHARS}")
    k_text = params.get("k", str(DEFAULT_K)).strip()
    if not k_text.isascii() or not k_text.isdigit() or not 1 <= int(k_text) <= MAX_K:
        raise BadRequest(f"k must be an integer from 1 to {MAX_K}")
    return q, int(k_text)


class AddressError(OSError):
    """The server cannot take the host and port asked for (busy, privileged, not this machine's)."""


class Handler(SimpleHTTPRequestHandler):
    quiet = False  # set by make_server on a subclass
    protocol_version = "HTTP/1.1"

    @property
    def searcher(self):
        return self.server.searcher

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._route(super().do_GET)

    def do_HEAD(self):  # noqa: N802
        # The same routes as GET (``_json`` leaves the body out); without this,
        # HEAD of /api/search or /healthz fell through to the file handler's 404.
        self._route(super().do_HEAD)

    def _route(self, static):
        # http.server decodes the request line as Latin-1; going back to bytes
        # recovers exactly what the client sent, so UTF-8 can be checked strictly.
        raw = self.path.encode("latin-1", errors="replace").partition(b"#")[0]
        path, _, query = raw.partition(b"?")
        if path == b"/api/search":
            return self._search(query)
        if path == b"/api/answer":
            return self._search(query, answer=True)
        if path == b"/healthz":
            return self._health()
        if path == ENGINE_FILE:  # the static build's copy says "browser"; served here, the API answers
            return self._json(HTTPStatus.OK, {"engine": "server"})
        if path.startswith(b"/api/"):
            return self._json(HTTPStatus.NOT_FOUND, {"error": "no such API endpoint; try /api/search?q=..."})
        if not Path(self.directory).is_dir():
            return self._json(HTTPStatus.NOT_FOUND, {
                "error": f"the site is not built ({self.directory} is missing); build the book first, "
                         "then restart `python -m search serve`"})
        return static()

    def do_POST(self):  # noqa: N802
        # The request body is never read, so the connection must not be reused:
        # on a keep-alive connection those bytes would be parsed as the next request.
        self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "use GET /api/search?q=..."},
                   {"Allow": "GET, HEAD", "Connection": "close"})

    def _search(self, raw_query: bytes, answer: bool = False):
        try:
            q, k = parse_search_params(raw_query)
            found = self.searcher.answer(q, k) if answer else self.searcher.search(q, k)
        except (BadRequest, QueryError) as e:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(e)})
        self._json(HTTPStatus.OK, found.to_json() if answer else [r.to_json() for r in found])

    def _health(self):
        idx = self.searcher.index
        self._json(HTTPStatus.OK, {"status": "ok", "model": idx.model, "dimension": idx.dimension,
                                   "articles": len(idx.articles), "chunks": len(idx.chunks),
                                   "hybrid": self.searcher.lexical is not None})

    def _json(self, status: HTTPStatus, body, headers: dict | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)  # "Connection: close" also sets close_connection
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, fmt, *args):
        if not self.quiet:
            super().log_message(fmt, *args)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default of 5 drops connections under a burst of clients
    searcher = None  # set before the server listens

    def handle_error(self, request, client_address):
        # A client that hangs up mid-answer (a browser aborting a download) is not a server error.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def _address_error(exc: OSError, host: str, port: int) -> AddressError:
    if exc.errno == errno.EADDRINUSE:
        why = f"port {port} on {host} is in use; stop what listens there or choose another --port (0: any free port)"
    elif exc.errno == errno.EACCES:
        why = f"port {port} on {host}: permission denied (ports below 1024 need privileges); choose another --port"
    else:
        why = f"cannot listen on {host} port {port} ({exc.strerror or exc}); check --host and --port"
    return AddressError(why)


def make_server(searcher, site_dir: Path, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False,
                listen: bool = True) -> Server:
    """A server bound to ``host``:``port``; listening unless ``listen`` is False (then set ``searcher``
    and call ``server_activate()`` once it is loaded). ``AddressError`` when the address cannot be had."""
    handler = type("BoundHandler", (Handler,), {"quiet": quiet})
    server = Server((host, port), partial(handler, directory=str(site_dir)), bind_and_activate=False)
    server.searcher = searcher
    try:
        server.server_bind()
        if listen:
            server.server_activate()
    except OSError as exc:
        server.server_close()
        raise _address_error(exc, host, port) from None
    return server


def serve(server: Server, site_dir: Path) -> None:
    """Listen and answer until interrupted; ``server`` comes from ``make_server(..., listen=False)``."""
    server.server_activate()
    h, p = server.server_address[:2]
    site = "" if Path(site_dir).is_dir() else f" (no site at {site_dir} yet: API only)"
    print(f"Serving http://{h}:{p}/{site}\n  search API: http://{h}:{p}/api/search?q=...&k=10", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
