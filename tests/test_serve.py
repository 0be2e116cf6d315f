"""`benchmark.py serve`: the JSON API and the draw-a-digit page, on a real server with the ci run's models."""

import base64
import contextlib
import http.client
import io
import json
import logging
import re
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ROOT
from digit_photos import dark_on_paper

from bench.use.models import SavedModel
from bench.use.serve import allowed_hosts, create_app, listen

PAGE = ROOT / "bench" / "use" / "page.html"


@pytest.fixture(scope="module")
def server(ci_run):
    """`python benchmark.py serve --port 0` on the ci run's models: (host, port, the process)."""
    out, run = ci_run
    assert run.returncode == 0, run.stdout[-2000:]
    proc = subprocess.Popen(
        [sys.executable, "benchmark.py", "serve", "--port", "0", "--models-dir", str(out / "models")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen, found = [], None
    for line in proc.stdout:  # until "serving 8 models (...) on http://127.0.0.1:PORT  (Ctrl+C stops)"
        seen.append(line)
        found = re.search(r"serving .* on http://127\.0\.0\.1:(\d+)", line)
        if found:
            break
    if not found:
        proc.kill()
        pytest.fail(f"serve did not start: {''.join(seen)}")
    yield "127.0.0.1", int(found.group(1)), proc
    proc.terminate()
    proc.wait(timeout=30)


def request(server, method, path, body=None, headers=None):
    """(status, parsed JSON or text) of one request."""
    host, port, _ = server
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    kind = response.getheader("content-type", "")
    return response.status, (json.loads(data) if kind.startswith("application/json") else data.decode())


def _png_header_only(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def seven(sample_splits):
    x, y = sample_splits.x_test, sample_splits.y_test
    return dark_on_paper(x[int(np.nonzero(y == 7)[0][0])], np.random.default_rng(5))


# ---- for the hostile-traffic tests: in-process servers (uvicorn on a thread) over fake models ----


class FakeEstimator:
    """Says 3 for every image; `gate` (an Event) holds each prediction until it is set, `delay` slows it,
    `error` is raised instead. Records how many predictions ran at once, at most."""

    def __init__(self, gate=None, delay=0.0, error=None):
        self.gate, self.delay, self.error = gate, delay, error
        self.entered = threading.Event()
        self.active = self.most_active = self.calls = 0
        self._count = threading.Lock()

    def predict_proba(self, x):
        with self._count:
            self.active += 1
            self.calls += 1
            self.most_active = max(self.most_active, self.active)
        self.entered.set()
        try:
            if self.error is not None:
                raise self.error
            if self.gate is not None:
                assert self.gate.wait(60), "the test never released the prediction"
            time.sleep(self.delay)
            return np.eye(10)[[3] * len(x)]
        finally:
            with self._count:
                self.active -= 1


def fake_model(name, estimator):
    return SavedModel(name, "classical", "a fake for the tests", Path(f"{name}.skops"), estimator, {"accuracy": 0.5})


@contextlib.contextmanager
def live(models, **kw):
    """create_app(models) on uvicorn in a thread, on a free loopback port: yields (host, port, None) as `server`."""
    import uvicorn

    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    kw.setdefault("hosts", allowed_hosts("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(create_app(models, **kw), log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if server.started:
                break
            time.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield "127.0.0.1", port, None
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def in_thread(fn, *args, **kw):
    """Start fn(*args, **kw) on a thread; join() the returned thread, then read .result."""
    thread = threading.Thread(target=lambda: setattr(thread, "result", fn(*args, **kw)), daemon=True)
    thread.start()
    return thread


def _png(image):
    return cv2.imencode(".png", image)[1].tobytes()


ONE = np.zeros((140, 140), np.uint8)
ONE[20:120, 62:76] = 255  # a "1", white on black
ONE_PNG = _png(ONE)


def test_models_lists_what_is_loaded_with_its_run_accuracy(server):
    status, data = request(server, "GET", "/models")
    assert status == 200
    assert [m["name"] for m in data["models"]] == [
        "hog-svm",
        "random-forest",
        "knn",
        "mlp",
        "lenet5",
        "cnn",
        "cnn-aug",
        "ensemble",
    ]
    assert all(0.5 < m["accuracy"] <= 1 and m["profile"] == "ci" for m in data["models"])
    assert data["max_body_bytes"] == 5 * 2**20


def test_predict_answers_every_model(server, seven):
    status, data = request(server, "POST", "/predict", seven, {"Content-Type": "image/jpeg"})
    assert status == 200
    assert len(data["predictions"]) == 8 and data["inverted"]
    cnn = next(p for p in data["predictions"] if p["model"] == "cnn")
    assert cnn["digit"] == 7 and cnn["confidence"] > 0.5 and cnn["latency_ms"] > 0
    digit = cv2.imdecode(np.frombuffer(base64.b64decode(data["digit28_png"]), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert digit.shape == (28, 28)
    status, data = request(server, "POST", "/predict?models=cnn,knn", seven)
    assert status == 200 and [p["model"] for p in data["predictions"]] == ["cnn", "knn"]


def test_predict_takes_a_multipart_upload(server, seven):
    boundary = "digitbench"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="seven.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + seven
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, data = request(
        server, "POST", "/predict?models=cnn", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert status == 200 and data["predictions"][0]["digit"] == 7


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b"", 400, "empty"),
        (b"\0" * (20 * 2**20), 413, "the limit is 5,242,880"),
        (b"just some text, renamed .png", 415, "not an image"),
        (cv2.imencode(".png", np.zeros((1, 1), np.uint8))[1].tobytes(), 422, "too small"),
        (_png_header_only(20_000, 20_000), 413, "too many pixels"),
    ],
    ids=["empty", "20MB", "text", "1x1", "20000x20000-header"],
)
def test_bad_requests_get_a_clear_status_and_the_server_keeps_answering(server, seven, body, status, words):
    got, data = request(server, "POST", "/predict", body, {"Content-Type": "image/png"})
    assert got == status and words in data["error"], data
    assert request(server, "POST", "/predict?models=cnn", seven)[1]["predictions"][0]["digit"] == 7


def test_unknown_model_and_bad_multipart(server):
    status, data = request(server, "POST", "/predict?models=lenet6", b"x")
    assert status == 400 and "not loaded: lenet6" in data["error"]
    multipart = {"Content-Type": "multipart/form-data; boundary=b"}
    status, data = request(
        server,
        "POST",
        "/predict",
        b'--b\r\nContent-Disposition: form-data; name="image"\r\n\r\ntext\r\n--b--\r\n',
        multipart,
    )
    assert status == 400 and "no file field named 'file'" in data["error"]
    status, data = request(server, "POST", "/predict", b"--b\r\n\r\n--b--\r\n", multipart)
    assert status == 400 and "cannot be parsed" in data["error"]


def test_the_page_loads_nothing_from_the_internet():
    page = PAGE.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and 'fetch("http' not in page


def _draw(browser, pad, strokes):
    """Each stroke a list of (x, y) points in the pad's 280x280 pixels, drawn with pointer (mouse) events."""
    from selenium.webdriver.common.action_chains import ActionChains

    for points in strokes:
        actions = ActionChains(browser, duration=10)
        x0, y0 = points[0]
        actions.move_to_element_with_offset(pad, x0 - 140, y0 - 140).click_and_hold()
        for (xa, ya), (xb, yb) in zip(points, points[1:]):
            actions.move_by_offset(xb - xa, yb - ya)
        actions.release().perform()


def _says(browser):
    return browser.execute_script(
        "return Object.fromEntries(Array.from(document.querySelectorAll('#results tbody tr'))"
        ".map(tr => [tr.dataset.model, tr.children[2].textContent]))"
    )


def _answered(browser):
    """Every model's answer to the drawing as it is now (None while a request is in flight or queued)."""
    if browser.execute_script("return document.body.dataset.busy") != "0":
        return None
    says = _says(browser)
    return says if all(says.values()) else None


def _wait_for(condition, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    return condition()


def test_draw_a_digit_page_in_headless_chromium(server, browser, tmp_path, seven):
    host, port, _ = server
    browser.get(f"http://{host}:{port}/")
    pad = browser.find_element("id", "pad")
    assert _wait_for(lambda: len(_says(browser)) == 8)  # a row per loaded model
    # a "7": a bar across the top, then down to the lower left, drawn point by point
    _draw(browser, pad, [[(70 + 14 * i, 60) for i in range(11)], [(210 - 8 * i, 60 + 17 * i) for i in range(11)]])
    says = _wait_for(lambda: _answered(browser))
    assert says and says["cnn"] == "7", says
    seen = browser.execute_script("const i = document.getElementById('seen'); return [i.naturalWidth, i.complete]")
    assert seen == [28, True]  # the 28x28 input the models saw
    shot = tmp_path / "page.png"
    assert browser.save_screenshot(str(shot))
    pixels = cv2.imread(str(shot), cv2.IMREAD_GRAYSCALE)
    assert pixels.std() > 20 and len(np.unique(pixels)) > 50  # not a blank page
    # Clear empties the answers; a "1" drawn next is read as a 1
    browser.find_element("id", "clear").click()
    assert set(_says(browser).values()) == {""}
    _draw(browser, pad, [[(150 - 2 * i, 40 + 20 * i) for i in range(11)]])
    says = _wait_for(lambda: _answered(browser))
    assert says["cnn"] == "1", says
    # an uploaded photo is predicted too
    photo = tmp_path / "seven.jpg"
    photo.write_bytes(seven)
    browser.execute_script("document.getElementById('clear').click()")
    browser.find_element("id", "file").send_keys(str(photo))
    says = _wait_for(lambda: _answered(browser))
    assert says["cnn"] == "7", says


def test_huge_pngs_at_once_keep_the_server_small_and_answering(server):
    """The report's attack on the real server: 8000 x 8000 solid RGBA PNGs (a few hundred KB each), four
    at once. Each is answered (422: blank), a small drawing sent meanwhile is answered, and the server's
    peak memory grows by one full-size decode (256 MB) and its working set, not by one per image."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGBA", (8000, 8000), (255, 255, 255, 255)).save(buffer, "PNG")
    huge = buffer.getvalue()
    assert len(huge) < 2**20
    _, _, proc = server
    status_file = Path(f"/proc/{proc.pid}/status")

    def peak_mb():
        return int(re.search(r"VmHWM:\s+(\d+) kB", status_file.read_text()).group(1)) / 1024

    assert request(server, "POST", "/predict?models=knn", ONE_PNG)[0] == 200
    Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # the peak starts again from the memory in use now
    before = peak_mb()
    posts = [
        in_thread(request, server, "POST", "/predict?models=knn", huge, {"Content-Type": "image/png"}) for _ in range(4)
    ]
    status, data = request(server, "POST", "/predict?models=knn", ONE_PNG)
    assert status == 200 and data["predictions"][0]["model"] == "knn"
    for post in posts:
        post.join(120)
    assert [p.result[0] for p in posts] == [422] * 4 and all("blank" in p.result[1]["error"] for p in posts)
    assert peak_mb() - before < 450, f"{before:.0f} MB -> {peak_mb():.0f} MB"


def test_the_real_server_refuses_other_hosts_and_other_origins(server, seven):
    """`benchmark.py serve` on 127.0.0.1: Host evil.example gets 421, a POST from a page of evil.example 403;
    the page's own origin and a request with no Origin are answered."""
    host, port, _ = server
    status, data = request(server, "GET", "/models", headers={"Host": f"evil.example:{port}"})
    assert status == 421 and f"127.0.0.1:{port}" in data["error"]
    status, data = request(server, "POST", "/predict?models=cnn", seven, {"Origin": "http://evil.example"})
    assert status == 403 and "another origin" in data["error"]
    same_origin = {"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}", "Sec-Fetch-Site": "same-origin"}
    for headers in (same_origin, {}):
        status, data = request(server, "POST", "/predict?models=cnn", seven, headers)
        assert status == 200 and data["predictions"][0]["digit"] == 7


def test_server_logs_one_line_per_request(server):
    request(server, "GET", "/models")
    _, _, proc = server
    proc.terminate()
    output, _ = proc.communicate(timeout=30)
    lines = [line for line in output.splitlines() if '"GET /models"' in line]
    assert lines and re.search(r'127\.0\.0\.1 "GET /models" 200 [\d.]+ ms$', lines[-1]), output[-2000:]
    assert "Traceback" not in output and '"POST /predict" 413' in output


def test_a_slow_prediction_runs_off_the_event_loop():
    """While a prediction is held mid-way, GET /models and a prediction by another model are answered: the
    work runs on worker threads. (On the event loop both would wait for the held one, and time out.)"""
    gate = threading.Event()
    slow, quick = FakeEstimator(gate=gate), FakeEstimator()
    with live([fake_model("slow", slow), fake_model("quick", quick)]) as server:
        held = in_thread(request, server, "POST", "/predict?models=slow", ONE_PNG)
        assert slow.entered.wait(30)
        try:
            status, data = request(server, "GET", "/models")
            assert status == 200 and [m["name"] for m in data["models"]] == ["slow", "quick"]
            status, data = request(server, "POST", "/predict?models=quick", ONE_PNG)
            assert status == 200 and data["predictions"][0]["digit"] == 3
        finally:
            gate.set()
        held.join(60)
        assert held.result[0] == 200 and held.result[1]["predictions"][0]["model"] == "slow"


def test_each_model_predicts_for_one_request_at_a_time():
    """Four requests at once to one model (a TensorFlow Lite interpreter must not be entered by two
    threads): its predictions never overlap, and all four are answered."""
    shared = FakeEstimator(delay=0.05)
    with live([fake_model("shared", shared)]) as server:
        threads = [in_thread(request, server, "POST", "/predict", ONE_PNG) for _ in range(4)]
        for t in threads:
            t.join(60)
    assert [t.result[0] for t in threads] == [200] * 4
    assert shared.calls == 4 and shared.most_active == 1


def test_large_images_are_decoded_one_at_a_time_and_small_ones_do_not_wait_for_them(monkeypatch):
    """Two images over BIG_PIXELS (by their header) and a small one: while the first large one is held in
    preprocessing, the second is not started (one large decode at a time) and the small one is answered."""
    from bench.use import serve

    gate, started = threading.Event(), []
    real = serve.preprocess

    def held_when_large(data, name):
        if serve.image_pixels(data) > serve.BIG_PIXELS:
            started.append(threading.current_thread().name)
            assert gate.wait(60), "the test never released the large image"
        return real(data, name)

    monkeypatch.setattr(serve, "preprocess", held_when_large)
    large = _png(cv2.resize(ONE, (2800, 2800), interpolation=cv2.INTER_NEAREST))  # 7.8 megapixels
    with live([fake_model("m", FakeEstimator())]) as server:
        first = in_thread(request, server, "POST", "/predict", large)
        for _ in range(3000):
            if started:
                break
            time.sleep(0.01)
        assert started, "the large image never reached preprocessing"
        second = in_thread(request, server, "POST", "/predict", large)
        try:
            status, data = request(server, "POST", "/predict", ONE_PNG)
            assert status == 200 and data["size"] == [140, 140]
            assert len(started) == 1  # the second large image waits for the first
        finally:
            gate.set()
        first.join(60)
        second.join(60)
    assert first.result[0] == second.result[0] == 200 and first.result[1]["size"] == [2800, 2800]
    assert len(started) == 2 and len(set(started)) == 1  # both on the one thread for large images


def test_more_requests_than_can_be_held_get_503():
    """With max_pending=2 and two predictions held, a third POST gets 503 (JSON, Retry-After) before its
    body is kept; GET requests are still answered, and once the two finish a POST is answered again."""
    gate = threading.Event()
    a, b = FakeEstimator(gate=gate), FakeEstimator(gate=gate)
    with live([fake_model("a", a), fake_model("b", b)], max_pending=2) as server:
        threads = [in_thread(request, server, "POST", f"/predict?models={name}", ONE_PNG) for name in "ab"]
        try:
            assert a.entered.wait(30) and b.entered.wait(30)
            host, port, _ = server
            conn = http.client.HTTPConnection(host, port, timeout=60)
            conn.request("POST", "/predict", body=ONE_PNG)
            response = conn.getresponse()
            data = json.loads(response.read())
            conn.close()
            assert response.status == 503 and data["error"].startswith("busy") and response.getheader("Retry-After")
            assert request(server, "GET", "/models")[0] == 200
        finally:
            gate.set()
        for t in threads:
            t.join(60)
        assert [t.result[0] for t in threads] == [200, 200]
        assert request(server, "POST", "/predict", ONE_PNG)[0] == 200


@pytest.mark.parametrize(
    "host, status",
    [
        ("127.0.0.1:{port}", 200),
        ("localhost:{port}", 200),
        ("LOCALHOST:{port}", 200),
        ("[::1]:{port}", 200),
        ("evil.example:{port}", 421),
        ("evil.example", 421),
        ("127.0.0.1:1{port}", 421),
        ("127.0.0.1", 421),
        ("localhost.:{port}", 421),
        ("127.0.0.1:{port}@evil.example", 421),
        ("", 421),
    ],
    ids=lambda v: str(v),
)
def test_a_host_header_naming_another_server_is_refused(host, status):
    """DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 sends Host: evil.example.
    Only the loopback names with the server's port are answered; the refusal is JSON, before any work."""
    model = FakeEstimator()
    with live([fake_model("m", model)]) as server:
        headers = {"Host": host.format(port=server[1])}
        got, data = request(server, "GET", "/models", headers=headers)
        assert got == status, data
        got, data = request(server, "POST", "/predict", ONE_PNG, headers)
        assert got == status, data
        if status == 421:
            assert "Host header" in data["error"] and model.calls == 0


def test_which_hosts_each_bind_answers():
    local = allowed_hosts("127.0.0.1", 8000)
    assert [
        local.allows(h)
        for h in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "127.0.0.1:8001", "192.168.1.5:8000", None)
    ] == [True, True, True, False, False, False]
    one = allowed_hosts("192.168.1.5", 8000)
    assert one.allows("192.168.1.5:8000") and not one.allows("localhost:8000") and not one.allows("evil.example:8000")
    six = allowed_hosts("::1", 80)
    assert six.allows("[::1]") and six.allows("localhost:80") and not six.allows("localhost:8080")
    everywhere = allowed_hosts("0.0.0.0", 8000)
    assert everywhere.allows("anything.example:1234") and everywhere.describe() == "any host"
    named = allowed_hosts("0.0.0.0", 8000, ["digits.lan"])
    assert named.allows("digits.lan") and named.allows("DIGITS.LAN:8000") and named.allows("localhost:8000")
    assert not named.allows("evil.example:8000")
    assert allowed_hosts("127.0.0.1", 8000, ["proxy.example"]).allows("proxy.example")


@pytest.mark.parametrize(
    "headers, status",
    [
        ({}, 200),  # curl, scripts
        ({"Origin": "http://{host}", "Sec-Fetch-Site": "same-origin"}, 200),  # the page itself
        ({"Origin": "http://{host}"}, 200),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "http://127.0.0.1:1"}, 403),  # another server on this machine
        ({"Origin": "null"}, 403),  # a sandboxed frame or a file: page
        ({"Origin": "http://{host}.evil.example"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),  # another port of localhost is the same site, not the same origin
        ({"Origin": "http://{host}", "Sec-Fetch-Site": "cross-site"}, 403),
    ],
    ids=lambda v: str(v),
)
def test_a_post_from_a_page_of_another_origin_is_refused(headers, status):
    model = FakeEstimator()
    with live([fake_model("m", model)]) as server:
        host = f"{server[0]}:{server[1]}"
        got, data = request(server, "POST", "/predict", ONE_PNG, {k: v.format(host=host) for k, v in headers.items()})
        assert got == status, data
        if status == 403:
            assert "refused" in data["error"] and model.calls == 0
        else:
            assert data["predictions"][0]["digit"] == 3


def test_a_get_from_another_origin_is_answered():
    """Reading is not refused by Origin (the browser keeps the answer from the other page; the Host check
    stops DNS rebinding)."""
    with live([fake_model("m", FakeEstimator())]) as server:
        assert request(server, "GET", "/models", headers={"Origin": "http://evil.example"})[0] == 200


def test_a_server_error_says_only_internal_error_and_logs_the_detail(caplog):
    """A model that raises: the answer is {"error": "internal error"}, nothing more; the type, the message
    (escaped) and where it was raised are in the log, and the server keeps answering."""
    secret = RuntimeError('secret /home/user/models\n12:00:00 127.0.0.1 "GET /forged" 200 1.0 ms')
    with caplog.at_level(logging.INFO, logger="digit_bench.serve"):
        with live([fake_model("broken", FakeEstimator(error=secret)), fake_model("fine", FakeEstimator())]) as server:
            status, data = request(server, "POST", "/predict", ONE_PNG)
            assert (status, data) == (500, {"error": "internal error"})
            assert request(server, "POST", "/predict?models=fine", ONE_PNG)[0] == 200
    failed = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failed) == 1 and "RuntimeError: secret /home/user/models\\n12:00:00" in failed[0]
    assert "predict_proba" in failed[0]  # where it was raised
    assert not any(line.startswith("12:00:00") for r in caplog.records for line in r.getMessage().splitlines())
    assert any(re.search(r'"POST /predict" 500 [\d.]+ ms$', r.getMessage()) for r in caplog.records)


def test_what_the_client_sent_is_escaped_in_the_log(caplog):
    """A path with a newline, an escape sequence and a quote (sent percent-encoded: the server logs the
    decoded path), and a refused Origin: each request is one log line, its client parts escaped."""
    forged = '/x\n12:00:00 127.0.0.1 "GET /models" 200 1.0 ms\x1b[2J"'
    with caplog.at_level(logging.INFO, logger="digit_bench.serve"):
        with live([fake_model("m", FakeEstimator())]) as server:
            assert request(server, "GET", urllib.parse.quote(forged))[0] == 404
            assert request(server, "POST", "/predict", ONE_PNG, {"Origin": "http://evil.example/\x7f"})[0] == 403
    lines = [r.getMessage() for r in caplog.records]
    assert all("\n" not in line and "\x1b" not in line and "\x7f" not in line for line in lines)
    escaped = '"GET /x\\n12:00:00 127.0.0.1 \\"GET /models\\" 200 1.0 ms\\x1b[2J\\"" 404 '
    assert any(re.fullmatch(r"127\.0\.0\.1 " + re.escape(escaped) + r"[\d.]+ ms", line) for line in lines), lines
    assert any('"POST /predict" 403' in line and "Origin http://evil.example/\\x7f" in line for line in lines), lines
