"""Ctrl-C in the long commands on a saved run: exit 130 with one line saying what was kept, never a traceback."""

import pytest

from bench import optimise, robustness


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
