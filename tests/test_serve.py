"""`benchmark.py serve`: the JSON API and the draw-a-digit page, on a real server with the ci run's models."""

import base64
import http.client
import json
import re
import struct
import subprocess
import sys
import time
import zlib

import cv2
import numpy as np
import pytest

from conftest import ROOT
from digit_photos import dark_on_paper

PAGE = ROOT / "bench" / "use" / "page.html"


@pytest.fixture(scope="module")
def server(ci_run):
    """`python benchmark.py serve --port 0` on the ci run's models: (host, port, the process)."""
    out, run = ci_run
    assert run.returncode == 0, run.stdout[-2000:]
    proc = subprocess.Popen([sys.executable, "benchmark.py", "serve", "--port", "0", "--models-dir", str(out / "models")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def seven(sample_splits):
    x, y = sample_splits.x_test, sample_splits.y_test
    return dark_on_paper(x[int(np.nonzero(y == 7)[0][0])], np.random.default_rng(5))


def test_models_lists_what_is_loaded_with_its_run_accuracy(server):
    status, data = request(server, "GET", "/models")
    assert status == 200
    assert [m["name"] for m in data["models"]] == ["hog-svm", "random-forest", "knn", "mlp", "lenet5", "cnn",
                                                   "cnn-aug", "ensemble"]
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
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"seven.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + seven + f"\r\n--{boundary}--\r\n".encode()
    status, data = request(server, "POST", "/predict?models=cnn", body,
                           {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 200 and data["predictions"][0]["digit"] == 7


@pytest.mark.parametrize("body, status, words", [
    (b"", 400, "empty"),
    (b"\0" * (20 * 2**20), 413, "the limit is 5,242,880"),
    (b"just some text, renamed .png", 415, "not an image"),
    (cv2.imencode(".png", np.zeros((1, 1), np.uint8))[1].tobytes(), 422, "too small"),
    (_png_header_only(20_000, 20_000), 413, "too many pixels"),
], ids=["empty", "20MB", "text", "1x1", "20000x20000-header"])
def test_bad_requests_get_a_clear_status_and_the_server_keeps_answering(server, seven, body, status, words):
    got, data = request(server, "POST", "/predict", body, {"Content-Type": "image/png"})
    assert got == status and words in data["error"], data
    assert request(server, "POST", "/predict?models=cnn", seven)[1]["predictions"][0]["digit"] == 7


def test_unknown_model_and_bad_multipart(server):
    status, data = request(server, "POST", "/predict?models=lenet6", b"x")
    assert status == 400 and "not loaded: lenet6" in data["error"]
    multipart = {"Content-Type": "multipart/form-data; boundary=b"}
    status, data = request(server, "POST", "/predict",
                           b'--b\r\nContent-Disposition: form-data; name="image"\r\n\r\ntext\r\n--b--\r\n', multipart)
    assert status == 400 and "no file field named 'file'" in data["error"]
    status, data = request(server, "POST", "/predict", b"--b\r\n\r\n--b--\r\n", multipart)
    assert status == 400 and "cannot be parsed" in data["error"]


def test_the_page_loads_nothing_from_the_internet():
    page = PAGE.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "fetch(\"http" not in page


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
        ".map(tr => [tr.dataset.model, tr.children[2].textContent]))")


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


def test_server_logs_one_line_per_request(server):
    request(server, "GET", "/models")
    _, _, proc = server
    proc.terminate()
    output, _ = proc.communicate(timeout=30)
    lines = [line for line in output.splitlines() if '"GET /models"' in line]
    assert lines and re.search(r'127\.0\.0\.1 "GET /models" 200 [\d.]+ ms$', lines[-1]), output[-2000:]
    assert "Traceback" not in output and '"POST /predict" 413' in output
