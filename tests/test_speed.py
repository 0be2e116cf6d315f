"""Prediction speed of every model, with pytest-benchmark: one image, and a batch of 1,000.

These are measurements, not timed assertions: pytest-benchmark reports the timings
(`pytest tests/test_speed.py`, or `--benchmark-only`, `--benchmark-autosave` to keep them and
`--benchmark-compare` to compare runs); the asserts check only that the output is right.
Each model is fitted in seconds on a 540-image slice (one epoch for Keras models), and few
rounds are timed. The plain `pytest` run leaves these out (marker `speed`, deselected in
pyproject.toml): CI guards speed with `benchmark.py check`, and the two minutes these take on a
2-core machine kept CI under its time limit. Run them with `pytest tests/test_speed.py -m speed`.
"""

import numpy as np
import pytest

from bench.registry import MODELS

pytestmark = pytest.mark.speed

BATCH = 1000
FAST = {"random-forest": {"n_estimators": 10}}  # ci's 30 trees are not needed to time prediction
KERAS_FAST = {"epochs": 1}


@pytest.fixture(scope="module")
def speed_splits():
    from bench.data import load_dataset

    return load_dataset("mnist-sample", train_size=600, test_size=200)


@pytest.fixture(scope="module", params=list(MODELS))
def fitted(request, speed_splits):
    """(name, estimator) fitted quickly on the small slice; one fit serves both benchmarks of a model."""
    name, s = request.param, speed_splits
    est = MODELS[name].build("ci", seed=0)
    if "epochs" in est.get_params():
        est.set_params(**KERAS_FAST)
    est.set_params(**FAST.get(name, {}))
    est.fit(s.x_train, s.y_train, validation_data=(s.x_val, s.y_val))
    return name, est


def check_proba(proba, n):
    assert proba.shape == (n, 10)
    assert np.allclose(proba.sum(axis=1), 1.0) and (proba >= 0).all()


@pytest.mark.benchmark(group="predict_proba: one image")
def test_predict_one_image(benchmark, fitted, speed_splits):
    name, est = fitted
    image = speed_splits.x_test[:1]
    est.predict_proba(image)  # warm-up outside the timing: traced functions, thread pools
    benchmark.extra_info["model"] = name
    proba = benchmark.pedantic(est.predict_proba, args=(image,), rounds=20, iterations=1)
    check_proba(proba, 1)
    assert np.argmax(proba[0]) in range(10)


@pytest.mark.benchmark(group=f"predict_proba: batch of {BATCH}")
def test_predict_batch(benchmark, fitted, speed_splits):
    name, est = fitted
    batch = np.resize(speed_splits.x_test, (BATCH, 28, 28))  # the 200 test images repeated
    est.predict_proba(batch[:10])  # warm-up
    benchmark.extra_info["model"] = name
    proba = benchmark.pedantic(est.predict_proba, args=(batch,), rounds=3, iterations=1)
    check_proba(proba, BATCH)
    # the repeated images get the same probabilities: the batch really went through the model in order
    assert np.allclose(proba[:200], proba[200:400], atol=1e-5)
    # and the model has learned something: well above chance on these (seen-in-test) digits
    assert (np.argmax(proba[:200], axis=1) == speed_splits.y_test).mean() > 0.2


@pytest.fixture(scope="module")
def cnn_server(tmp_path_factory, speed_splits):
    """The web API (bench.use.serve) on a real uvicorn server in a thread, with a quickly fitted cnn."""
    import threading

    import uvicorn

    from bench.use.models import load_models, warm_up
    from bench.use.serve import create_app, listen

    s, folder = speed_splits, tmp_path_factory.mktemp("models")
    est = MODELS["cnn"].build("ci", seed=0).set_params(**KERAS_FAST)
    est.fit(s.x_train, s.y_train, validation_data=(s.x_val, s.y_val)).save(folder / "cnn.keras")
    models = load_models(folder, ["cnn"])
    warm_up(models)
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(models), log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)


@pytest.mark.benchmark(group="POST /predict: one 280x280 drawing, cnn")
def test_predict_endpoint_cnn(benchmark, cnn_server):
    """What the draw-a-digit page costs per update: PNG upload, decode, preprocessing, cnn, JSON answer."""
    import http.client
    import json

    import cv2

    canvas = np.full((280, 280), 255, np.uint8)  # a "7" as the page draws it: black, 18 pixels wide, on white
    cv2.polylines(canvas, [np.array([[70, 60], [210, 60], [130, 230]])], False, 0, 18, cv2.LINE_AA)
    body = cv2.imencode(".png", canvas)[1].tobytes()

    def post():
        # a new connection per request, as curl makes it: with one reused http.client connection the
        # median was 55.9 ms against 9.8 ms (most likely delayed ACK against Nagle, not the server)
        conn = http.client.HTTPConnection("127.0.0.1", cnn_server, timeout=30)
        conn.request("POST", "/predict?models=cnn", body=body, headers={"Content-Type": "image/png"})
        response = conn.getresponse()
        answer = response.status, json.loads(response.read())
        conn.close()
        return answer

    post()  # warm-up: the first interpreter call
    status, answer = benchmark.pedantic(post, rounds=50, iterations=1)
    assert status == 200 and answer["predictions"][0]["model"] == "cnn"
