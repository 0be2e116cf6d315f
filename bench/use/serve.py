"""`benchmark.py serve`: a local draw-a-digit page and a JSON API over the models a run saved.

    GET  /          the page (one HTML file, no script, font or stylesheet from the internet)
    GET  /models    what is loaded, with each model's test accuracy from the run that trained it
    POST /predict   an image file (raw body, or multipart field "file"); ?models=cnn,knn picks models

Bodies over MAX_BODY_BYTES get 413 before they are read; an image that cannot be decoded 415 or 400,
one without a usable digit 422; every answer is JSON with "error" on failure. Predictions run on
the event loop's one thread: TensorFlow Lite interpreters must not be called from two threads at
once, and one person drawing sends one image at a time. Each request is logged in one line.
"""

import base64
import logging
import socket
import time
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from .models import SavedModel, predict_digit
from .preprocess import DigitImageError, encode_png, preprocess

MAX_BODY_BYTES = 5 * 2**20
DRAIN_LIMIT = 64 * 2**20  # a larger body is refused without reading it (the connection is closed)
PAGE = Path(__file__).with_name("page.html")
log = logging.getLogger("digit_bench.serve")


class BodyLimit:
    """ASGI middleware: reads the whole body first (it is small) and answers 413 when it is over max_bytes.

    The body is refused by its Content-Length before any of it is read, or as it streams in when the
    length was not declared or was wrong; a refused body up to DRAIN_LIMIT is read away so the client
    gets the answer instead of a reset connection.
    """

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        declared = int(length) if length.isdigit() else 0
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
            while more and size <= DRAIN_LIMIT and max(declared, size) <= DRAIN_LIMIT:
                message = await receive()
                size += len(message.get("body", b""))
                more = message.get("more_body", False) and message["type"] != "http.disconnect"
            return await self._too_large(scope, send, max(declared, size))
        replay = iter(messages)

        async def replayed():
            return next(replay, None) or await receive()  # after the body: the real channel (disconnects)

        await self.app(scope, replayed, send)

    async def _too_large(self, scope, send, size: int):
        message = f"the body is {size:,} bytes; the limit is {self.max_bytes:,} ({self.max_bytes / 2**20:g} MB)"
        client = (scope.get("client") or ["-"])[0]
        log.info('%s "%s %s" 413 %s', client, scope.get("method"), scope.get("path"), message)
        await JSONResponse({"error": message}, status_code=413)({"type": "http"}, None, send)


def create_app(loaded: list[SavedModel], max_body: int = MAX_BODY_BYTES):
    # no /docs: its page loads scripts from a CDN, and everything served here works offline
    app = FastAPI(title="digit-bench", docs_url=None, redoc_url=None, openapi_url=None)
    by_name = {m.name: m for m in loaded}
    page = PAGE.read_text(encoding="utf-8")

    @app.middleware("http")
    async def one_line_log(request: Request, call_next):
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as e:  # never crash: the request gets a 500, the server keeps answering
            log.error("%s %s failed: %s: %s", request.method, request.url.path, type(e).__name__, e)
            response = JSONResponse({"error": f"internal error: {type(e).__name__}: {e}"}, status_code=500)
        client = request.client.host if request.client else "-"
        log.info('%s "%s %s" %d %.1f ms', client, request.method, request.url.path, response.status_code,
                 1000 * (time.perf_counter() - start))
        return response

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
        start = time.perf_counter()
        try:
            digit = preprocess(body, "the uploaded image")
        except DigitImageError as e:
            return JSONResponse({"error": str(e)}, e.status)
        preprocess_ms = 1000 * (time.perf_counter() - start)
        return {"digit28_png": base64.b64encode(encode_png(digit.image)).decode(), "inverted": digit.inverted,
                "box": list(digit.box), "size": list(digit.source_size), "preprocess_ms": preprocess_ms,
                "predictions": [predict_digit(m, digit.image) for m in chosen]}

    return BodyLimit(app, max_body)


def listen(host: str, port: int) -> socket.socket:
    """A bound, listening socket (port 0: any free port); OSError names why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock
