"""Ctrl-C and bad settings in the long commands: exit 130 or 2 with one line, never a traceback."""

import pytest

from bench.cli import optimise, robustness


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "module, runner, argv, said",
    [
        (robustness, "run_robustness", ["some-run"], "the models already scored are kept"),
        (optimise, "run_optimise", ["some-run"], "continue with: python benchmark.py optimise some-run --resume"),
        (
            optimise,
            "run_optimise",
            ["some-run", "--resume"],
            "continue with: python benchmark.py optimise some-run --resume",
        ),
    ],
)
def test_ctrl_c_exits_130_with_one_line(monkeypatch, capsys, module, runner, argv, said):
    monkeypatch.setattr(module, runner, _interrupt)
    assert module.main(argv) == 130
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("interrupted: ") and said in out
    assert out.count("--resume") == 1 if module is optimise else "--resume" not in out
    assert "Traceback" not in out


def test_a_bad_setting_in_params_is_one_line_before_any_data_is_read(tmp_path, capsys):
    """--params {"knn": {"n_neighbors": 0}} with --data naming no file: the settings are refused first."""
    import json

    from bench import cli

    params = tmp_path / "params.json"
    params.write_text(json.dumps({"knn": {"n_neighbors": 0}}))
    code = cli.main(
        [
            "--models",
            "knn",
            "--params",
            str(params),
            "--data",
            str(tmp_path / "absent.npz"),
            "--out",
            str(tmp_path / "run"),
        ]
    )
    out = " ".join(capsys.readouterr().out.split())
    assert code == 2
    assert (
        "knn's settings (from" in out
        and "The 'n_neighbors' parameter of KNN must be an int in the range [1, inf)" in out
    )
    assert "absent.npz" not in out and not (tmp_path / "run" / "results.json").exists()
