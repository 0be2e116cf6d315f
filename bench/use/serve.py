"""`benchmark.py serve`: a local draw-a-digit page and a JSON API over the models a run saved.

    GET  /          the page (one HTML file, no script, font or stylesheet from the internet)
    GET  /models    what is loaded, with each model's test accuracy from the run that trained it
    POST /predict   an image file (raw body, or multipart field "file"); ?models=cnn,knn picks models

Bodies over MAX_BODY_BYTES get 413 before they are read; an image that cannot be decoded 415 or 400,
one without a usable digit 422; every answer is JSON with "error" on failure.

What a page in the browser, or anyone else, can make the server do:

* Host check: a request whose Host header names another server gets 421 (a web page that rebinds its
  own name to 127.0.0.1 cannot read the API). The names answered are set by `allowed_hosts`: a
  loopback bind answers 127.0.0.1, localhost and [::1] with its port, a bind to one address that
  address; a bind to every interface (0.0.0.0, ::) answers any Host unless names are given.
* Origin check: a POST (any method but GET, HEAD and OPTIONS) sent by a page of another origin gets
  403: its Origin header is not this server's (the Host it was sent to), or Sec-Fetch-Site says
  cross-site or same-site. Requests without these headers (curl, scripts) are answered.
* Decoding and inference run off the event loop, on WORKERS threads; an image whose header declares
  over BIG_PIXELS pixels is decoded on one thread of its own, one at a time, so a few large images
  neither hold more than one full-size decode in memory nor delay the small ones (and preprocess
  refuses, by its header, an image whose decoding would hold over MAX_DECODE_BYTES). Requests wait for
  a thread in the order they came; at most MAX_PENDING requests with a body are held at once
  (read, waiting or being answered), and one more gets 503 with Retry-After before its body is read.
  Each model predicts for one request at a time (a lock per model: TensorFlow Lite interpreters must
  not be called from two threads at once).
* A failure of the server's own gets 500 {"error": "internal error"}; the exception's type, message
  and where it was raised go to the log. Each request is logged in one line; what the client sent
  (method, path, header values) is escaped there as repr() escapes it, so it cannot start a new line
  or fake a field.
"""

import asyncio
import base64
import contextlib
import ipaddress
import logging
import socket
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import Headers

from .models import SavedModel, predict_digit
from .preprocess import DigitImageError, encode_png, image_pixels, preprocess

MAX_BODY_BYTES = 5 * 2**20
DRAIN_LIMIT = 64 * 2**20  # a larger body is refused without reading it (the connection is closed)
MAX_PENDING = 16  # requests with a body held at once; their bodies take at most MAX_PENDING x the body limit
WORKERS = 2  # threads decoding images and running models (the machine it was sized on has 2 cores)
BIG_PIXELS = 4_000_000  # an image with more pixels (by its header) is decoded on the one thread for large images
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")  # methods a page of another origin may send (they change nothing)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
NOTE = "digit_bench.note"  # scope key: why a request was refused, for its log line
PAGE = Path(__file__).with_name("page.html")
log = logging.getLogger("digit_bench.serve")


def clean(text) -> str:
    """What a client sent, fit for one log line: escaped as repr() escapes it (control characters, non-ASCII
    and backslashes), and double quotes too, so it can neither end the line nor close a quoted field."""
    return ascii(str(text))[1:-1].replace('"', '\\"')


class Hosts:
    """The Host header values a server answers: `names` with its own port, `any_port` names with any port,
    or everything (`anything`)."""

    def __init__(self, port: int, names=(), any_port=(), anything: bool = False):
        self.port, self.anything = port, anything
        self.names = {n.lower() for n in names}
        self.any_port = {n.lower() for n in any_port}

    def allows(self, value: str | None) -> bool:
        if self.anything:
            return True
        parsed = _split_host(value or "")
        if parsed is None:
            return False
        name, port = parsed
        return name in self.any_port or (name in self.names and (port or 80) == self.port)

    def describe(self) -> str:
        if self.anything:
            return "any host"
        return ", ".join([f"{n}:{self.port}" for n in sorted(self.names)] + sorted(self.any_port))


def _split_host(value: str) -> tuple[str, int | None] | None:
    """'Name:port', '[v6]:port' or a bare name -> (lowercase name, port or None); None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        name, rest = (value[: end + 1], value[end + 1 :]) if end > 0 else ("", "")
    else:
        name, colon, port = value.partition(":")
        rest = colon + port
    if not name or (rest and not (rest.startswith(":") and rest[1:].isdigit() and len(rest) <= 6)):
        return None
    return name, int(rest[1:]) if rest else None


def allowed_hosts(bound: str, port: int, extra=()) -> Hosts:
    """The Host headers a server listening on bound:port answers (see the module's docstring); `extra` names
    (any port) are answered as well, and on a bind to every interface they replace "any host"."""
    try:
        address = ipaddress.ip_address(bound.strip("[]"))
    except ValueError:  # a name, such as localhost
        address = None
    literal = f"[{address}]" if address is not None and address.version == 6 else bound.lower()
    loopback = bound.lower() == "localhost" or (address is not None and address.is_loopback)
    everywhere = address is not None and address.is_unspecified
    if everywhere:
        return Hosts(port, LOOPBACK_NAMES, extra, anything=not extra)
    return Hosts(port, (literal, *(LOOPBACK_NAMES if loopback else ())), extra)


async def _json(send, status: int, body: dict, headers: dict | None = None) -> None:
    await JSONResponse(body, status_code=status, headers=headers)({"type": "http"}, None, send)


class RequestLog:
    """ASGI middleware, outermost: one log line per request (the client's parts escaped), and a 500
    {"error": "internal error"} for any exception, whose detail goes to the log only."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), None

        async def noted(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        client = (scope.get("client") or ["-"])[0]
        method, path = clean(scope.get("method")), clean(scope.get("path"))
        try:
            await self.app(scope, receive, noted)
        except Exception as e:  # never crash: the request gets a 500, the server keeps answering
            where = "".join(traceback.format_tb(e.__traceback__)).rstrip()
            log.error('%s "%s %s" failed: %s: %s\n%s', client, method, path, type(e).__name__, clean(e), where)
            if status is None:
                with contextlib.suppress(Exception):  # the client may have gone; the line below says 500 all the same
                    await _json(noted, 500, {"error": "internal error"})
                status = 500
        note = scope.get(NOTE)
        log.info(
            '%s "%s %s" %s %.1f ms%s',
            client,
            method,
            path,
            status if status is not None else "-",
            1000 * (time.perf_counter() - start),
            f" ({clean(note)})" if note else "",
        )


class Guard:
    """ASGI middleware: before any body is read, 421 for a Host this server does not answer (None: every Host
    is answered), 400 for no or several Host headers, 403 for a POST (any unsafe method) from another origin."""

    def __init__(self, app, hosts: Hosts | None):
        self.app, self.hosts = app, hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        refused = self._refused(scope, headers)
        if refused is None:
            return await self.app(scope, receive, send)
        status, error, scope[NOTE] = refused
        length = headers.get("content-length", "")
        await BodyLimit.drain(receive, int(length) if length.isdigit() else 0, 0, True)
        await _json(send, status, {"error": error})

    def _refused(self, scope, headers) -> tuple[int, str, str] | None:
        """(status, error, log note) when the request is refused."""
        given = headers.getlist("host")
        if len(given) != 1:
            return 400, "the request must have one Host header", f"{len(given)} Host headers"
        host = given[0]
        if self.hosts is not None and not self.hosts.allows(host):
            return (
                421,
                f"this server answers requests for {self.hosts.describe()}, not for the host named in the Host header",
                f"Host {host} refused",
            )
        if scope["method"] not in SAFE_METHODS:
            site, origin = headers.get("sec-fetch-site"), headers.get("origin")
            if site is not None and site.lower() not in ("same-origin", "none"):
                return 403, "refused: sent by a page of another site", f"Sec-Fetch-Site {site}"
            if origin is not None and not _same_origin(origin, host):
                return 403, "refused: sent by a page of another origin", f"Origin {origin}"
        return None


def _same_origin(origin: str, host: str) -> bool:
    """Whether an Origin header names the server the request was sent to (its Host), over http or https."""
    parts = urlsplit(origin.strip())
    return parts.scheme in ("http", "https") and not parts.path and parts.netloc.lower() == host.strip().lower()


class BodyLimit:
    """ASGI middleware: reads the whole body first (it is small) and answers 413 when it is over max_bytes,
    503 when max_pending requests with a body (any method but GET, HEAD and OPTIONS) are held already.

    The body is refused by its Content-Length before any of it is read, or as it streams in when the
    length was not declared or was wrong; a refused body up to DRAIN_LIMIT is read away so the client
    gets the answer instead of a reset connection.
    """

    def __init__(self, app, max_bytes: int, max_pending: int = MAX_PENDING):
        self.app, self.max_bytes, self.max_pending = app, max_bytes, max_pending
        self.pending = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        declared = int(length) if length.isdigit() else 0
        counted = scope["method"] not in SAFE_METHODS
        if counted and self.pending >= self.max_pending:
            await self.drain(receive, declared, 0, True)
            scope[NOTE] = f"{self.pending} requests held"
            return await _json(
                send,
                503,
                {"error": f"busy: {self.pending} requests are being answered; try again"},
                {"Retry-After": "1"},
            )
        self.pending += counted
        try:
            await self._limited(scope, receive, send, declared)
        finally:
            self.pending -= counted

    async def _limited(self, scope, receive, send, declared: int):
        messages, size = [], 0
        while declared <= self.max_bytes:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            messages.append(message)
            if size > self.max_bytes or not message.get("more_body"):
                break
        if max(declared, size) > self.max_bytes:
            more = messages[-1].get("more_body", True) if messages else True
            size = await self.drain(receive, declared, size, more)
            message = (
                f"the body is {max(declared, size):,} bytes; the limit is {self.max_bytes:,} "
                f"({self.max_bytes / 2**20:g} MB)"
            )
            scope[NOTE] = message
            return await _json(send, 413, {"error": message})
        replay = iter(messages)

        async def replayed():
            return next(replay, None) or await receive()  # after the body: the real channel (disconnects)

        await self.app(scope, replayed, send)

    @staticmethod
    async def drain(receive, declared: int, size: int, more: bool) -> int:
        """Read and drop the rest of a refused body (up to DRAIN_LIMIT); the number of bytes seen in all."""
        while more and size <= DRAIN_LIMIT and max(declared, size) <= DRAIN_LIMIT:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False) and message["type"] != "http.disconnect"
        return size


def create_app(
    loaded: list[SavedModel], max_body: int = MAX_BODY_BYTES, hosts: Hosts | None = None, max_pending: int = MAX_PENDING
):
    """The ASGI app: the page and API over `loaded`; `hosts` the Host headers answered (None: any)."""
    # no /docs: its page loads scripts from a CDN, and everything served here works offline
    app = FastAPI(title="digit-bench", docs_url=None, redoc_url=None, openapi_url=None)
    by_name = {m.name: m for m in loaded}
    page = PAGE.read_text(encoding="utf-8")
    workers = ThreadPoolExecutor(WORKERS, thread_name_prefix="digit-bench-work")
    big = ThreadPoolExecutor(1, thread_name_prefix="digit-bench-big")  # one thread: its memory is reused

    async def internal_error(request: Request, exc: Exception):
        return JSONResponse({"error": "internal error"}, status_code=500)  # RequestLog logs the detail

    app.add_exception_handler(Exception, internal_error)

    @app.get("/", response_class=HTMLResponse)
    def index():
        return page

    @app.get("/models")
    def list_models():
        return {"models": [m.describe() for m in loaded], "max_body_bytes": max_body}

    @app.post("/predict")
    async def predict(request: Request, models: str | None = None):
        chosen = list(by_name.values())
        if models:
            names = [n.strip() for n in models.split(",") if n.strip()]
            unknown = [n for n in names if n not in by_name]
            if unknown:
                return JSONResponse({"error": f"not loaded: {', '.join(unknown)}; loaded: {', '.join(by_name)}"}, 400)
            chosen = [by_name[n] for n in names]
        body = await request.body()
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            try:
                form = await request.form()
            except Exception as e:  # Starlette's parser: a malformed body is the client's error, not ours
                return JSONResponse({"error": f"the multipart body cannot be parsed: {getattr(e, 'detail', e)}"}, 400)
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                return JSONResponse({"error": "the multipart body has no file field named 'file'"}, 400)
            body = await upload.read()
        loop = asyncio.get_running_loop()
        pixels = await loop.run_in_executor(workers, image_pixels, body)  # the header only
        try:
            return await loop.run_in_executor(big if pixels > BIG_PIXELS else workers, answer, body, chosen)
        except DigitImageError as e:
            return JSONResponse({"error": str(e)}, e.status)

    return RequestLog(Guard(BodyLimit(app, max_body, max_pending), hosts))


def answer(body: bytes, chosen: list[SavedModel]) -> dict:
    """POST /predict's answer to an image (on a worker thread); DigitImageError when it holds no digit."""
    start = time.perf_counter()
    digit = preprocess(body, "the uploaded image")
    preprocess_ms = 1000 * (time.perf_counter() - start)
    return {
        "digit28_png": base64.b64encode(encode_png(digit.image)).decode(),
        "inverted": digit.inverted,
        "box": list(digit.box),
        "size": list(digit.source_size),
        "preprocess_ms": preprocess_ms,
        "predictions": [predict_digit(m, digit.image) for m in chosen],
    }


def listen(host: str, port: int) -> socket.socket:
    """A bound, listening socket (port 0: any free port); OSError names why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock
