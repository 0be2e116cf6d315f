"""The results file: atomic writes, schema check."""

import json

import pytest

from bench.results import SCHEMA, ResultsError, atomic_write_bytes, read_results, write_results


def test_write_then_read_round_trip(tmp_path):
    path = tmp_path / "results.json"
    write_results(path, {"schema": SCHEMA, "run": {}, "models": {"knn": {"status": "ok"}}})
    assert read_results(path)["models"]["knn"]["status"] == "ok"
    assert not [p for p in tmp_path.iterdir() if p.name != "results.json"]  # no temporary left over


def test_failed_write_leaves_previous_file_intact(tmp_path):
    path = tmp_path / "results.json"
    write_results(path, {"schema": SCHEMA, "run": {}, "models": {}})
    before = path.read_bytes()
    with pytest.raises(TypeError):
        write_results(path, {"schema": SCHEMA, "bad": object()})
    assert path.read_bytes() == before
    assert len(list(tmp_path.iterdir())) == 1


def test_interrupted_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    atomic_write_bytes(path, b"old")

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("content, message", [
    (None, "no such results file"),
    ("{not json", "not a readable results file"),
    (json.dumps({"schema": "other/9"}), "schema is 'other/9'"),
    (json.dumps([1, 2]), "schema is 'list'"),
])
def test_read_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ResultsError, match=message):
        read_results(path)
