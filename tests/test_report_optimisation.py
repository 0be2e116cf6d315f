"""The report's optimisation section: native models and their variants in one table, the Pareto fronts of
accuracy against size and latency, and the figure; built from the headline run's rows (test_results.HEADLINE)
with hand-made variants, no model is loaded."""

import copy
import json

import pytest
from test_results import HEADLINE

from bench.report import optimisation
from bench.report.build import build_reports
from bench.report.document import BulletList, Document, Image, Paragraph, Table, to_markdown
from bench.report.pareto import accuracy_axis, front_of, pareto_front
from bench.results import read_results, write_results
from bench.schema import Results


def variant(name, kind, accuracy, size_bytes, latency_ms_p50, note="", **extra) -> dict:
    """A measured variant as `benchmark.py optimise` writes it; kind=None: a file from before kinds existed."""
    v = {
        "variant": name,
        "kind": kind,
        "status": "ok",
        "runtime": "test 1.0",
        "note": note,
        "size_bytes": size_bytes,
        "accuracy": accuracy,
        "log_loss": 0.05,
        "same_predictions_as_native": 0.999,
        "max_abs_proba_difference": 2.5e-3,
        "throughput_img_s": 12_345.6,
        "latency_ms_p50": latency_ms_p50,
        "latency_ms_p95": 2 * latency_ms_p50,
        "threads": 2,
        "finished_at": "2026-11-25T00:00:00+00:00",
        "command": "python benchmark.py optimise reports/full",
        **extra,
    }
    if kind is None:
        del v["kind"]
    return v


def not_measured(name, status, reason) -> dict:
    return {"variant": name, "kind": "quantised", "status": status, "reason": reason, "finished_at": "t"}


# lenet5 natively: 98.98%, 0.789655 MB, p50 0.110 ms; knn: 98.26%, 15.1 MB, 6.62 ms (NATIVE below)
VARIANTS = {
    "lenet5": [
        variant("onnxruntime", None, 0.9898, 262_000, 0.115, note="the whole network in ONNX"),  # slower than native
        variant(
            "litert-int8",
            "quantised",
            0.9893,
            80_000,
            0.070,
            note="int8 weights and activations",
            size_gzip_bytes=60_000,
        ),
        variant("litert-float16", "quantised", 0.9898, 400_000, 0.120, note="float16 weights"),
        variant(
            "pruned-50",
            "pruned",
            0.9899,
            789_655,
            0.105,
            note="magnitude pruning, fine-tuned",
            sparsity=0.5,
            size_gzip_bytes=420_000,
        ),
        variant(
            "pruned-90",
            "pruned",
            0.1032,
            789_655,
            0.105,
            note="magnitude pruning, fine-tuned",
            sparsity=0.9,
            size_gzip_bytes=150_000,
        ),  # broken: must not squash the plot
    ],
    "knn": [
        {
            "variant": "onnxruntime",
            "status": "unsupported",
            "finished_at": "t",  # an old file: no kind
            "reason": "skl2onnx gives uniform-vote probabilities for weights='distance'",
        },
        variant("refs-10000", "smaller", 0.9701, 3_000_000, 1.5, note="10,000 reference images"),
        not_measured("litert-int8", "unsupported", "not a Keras model"),
        not_measured("pca-20", "failed", "MemoryError: out of memory"),
    ],
}
FRONT_BY_SIZE = ["lenet5 litert-int8", "lenet5 onnxruntime", "lenet5 pruned-50"]
FRONT_BY_LATENCY = ["lenet5 litert-int8", "lenet5 pruned-50"]  # pruned-50 is faster and better than native


# the native numbers the variants and fronts above are written against
NATIVE = {
    "lenet5": {
        "accuracy": 0.9898,
        "size_bytes": 789_655,
        "latency_ms_p50": 0.110146,
        "latency_ms_p95": 0.395098,
        "throughput_img_s": 41_066.6,
        "log_loss": 0.038274,
    },
    "knn": {
        "accuracy": 0.9826,
        "size_bytes": 15_114_780,
        "latency_ms_p50": 6.617374,
        "latency_ms_p95": 8.495992,
        "throughput_img_s": 3_053.4,
        "log_loss": 0.317707,
    },
}


def headline_without_variants() -> Results:
    """The headline run's rows without variants, lenet5's and knn's native numbers set to NATIVE."""
    results = read_results(HEADLINE)
    for row in results.models.values():
        row.variants = None
    for name, metrics in NATIVE.items():
        results.models[name].metrics.update(metrics)
    return results


def with_variants(variants=VARIANTS) -> Results:
    results = headline_without_variants()
    for name, vs in variants.items():
        results.models[name].variants = copy.deepcopy(vs)
    return results


def section_table(blocks) -> dict:
    """(model, variant) -> {column: cell} of the section's one table."""
    (table,) = [b for b in blocks if isinstance(b, Table)]
    rows = {(r[0], r[1]): dict(zip(table.header, r)) for r in table.rows}
    assert len(rows) == len(table.rows)  # one row per (model, variant)
    return rows


def test_pareto_front_keeps_only_points_nothing_dominates():
    points = [(1.0, 0.90), (2.0, 0.90), (1.0, 0.80), (0.5, 0.85), (3.0, 0.95), (3.0, 0.94)]
    # (2, .90): as accurate as (1, .90) and dearer; (1, .80): as cheap as (1, .90) and less accurate;
    # (3, .94): as dear as (3, .95) and less accurate
    assert pareto_front(points) == {0, 3, 4}


def test_pareto_front_identical_points_are_all_on_it_and_a_single_point_is_its_own_front():
    assert pareto_front([(1, 0.9), (1, 0.9), (2, 0.8)]) == {0, 1}
    assert pareto_front([(5, 0.5)]) == {0}
    assert pareto_front([]) == set()


def test_front_of_orders_cheapest_first_and_skips_points_without_the_cost():
    points = [
        {"accuracy": 0.99, "size_bytes": 300},
        {"accuracy": 0.98, "size_bytes": 100},
        {"accuracy": 0.999, "size_bytes": None},
        {"accuracy": 0.97, "size_bytes": 200},
    ]
    assert front_of(points, "size_bytes") == [1, 0]


def test_a_broken_variant_falls_below_the_accuracy_axis_without_widening_it():
    low, high = accuracy_axis([0.99, 0.98, 0.10])
    assert 0.97 < low < 0.98 and 0.99 < high < 0.995
    assert accuracy_axis([0.99, 0.85])[0] > 0.85  # 14 points below the best: off-axis too
    assert accuracy_axis([0.99, 0.90])[0] < 0.90  # within 10 points: shown


def test_one_row_per_native_model_and_measured_variant_grouped_per_model():
    blocks = optimisation.optimisation_section(with_variants())
    table = next(b for b in blocks if isinstance(b, Table))
    # lenet5 (98.98%) before knn (98.26%), each native first; models without variants (mlp, ...) left out
    assert [(r[0], r[1]) for r in table.rows] == [
        ("lenet5", "native"),
        ("lenet5", "onnxruntime"),
        ("lenet5", "litert-int8"),
        ("lenet5", "litert-float16"),
        ("lenet5", "pruned-50"),
        ("lenet5", "pruned-90"),
        ("knn", "native"),
        ("knn", "refs-10000"),
    ]
    assert table.header[:5] == ["model", "variant", "kind", "accuracy", "Δ accuracy (points)"]


def test_accuracy_difference_is_signed_points_and_absent_numbers_are_dashes():
    rows = section_table(optimisation.optimisation_section(with_variants()))
    delta = {k: r["Δ accuracy (points)"] for k, r in rows.items()}
    assert delta[("lenet5", "litert-int8")] == "-0.05" and delta[("lenet5", "pruned-50")] == "+0.01"
    assert delta[("lenet5", "onnxruntime")] == "0.00" and delta[("knn", "refs-10000")] == "-1.25"
    assert delta[("lenet5", "pruned-90")] == "-88.66" and delta[("lenet5", "native")] == "-"
    int8, f16, pruned = (
        rows[("lenet5", "litert-int8")],
        rows[("lenet5", "litert-float16")],
        rows[("lenet5", "pruned-50")],
    )
    assert int8["size (MB)"] == "0.080" and int8["gzip (MB)"] == "0.060" and int8["sparsity"] == "-"
    assert f16["gzip (MB)"] == "-" and f16["sparsity"] == "-" and f16["size (MB)"] == "0.40"
    assert pruned["sparsity"] == "50.0%" and pruned["gzip (MB)"] == "0.42"
    assert rows[("lenet5", "native")]["size (MB)"] == "0.79" and rows[("lenet5", "native")]["same predictions"] == "-"
    assert int8["accuracy"] == "98.93%" and int8["same predictions"] == "99.90%" and int8["max |Δp|"] == "2.5e-03"
    assert int8["latency p50 (ms)"] == "0.070" and int8["latency p95 (ms)"] == "0.140"


def test_an_old_variant_without_kind_renders_as_a_runtime():
    old = {"lenet5": [variant("onnxruntime", None, 0.9898, 262_000, 0.09, note="the whole network in ONNX")]}
    blocks = optimisation.optimisation_section(with_variants(old))
    assert section_table(blocks)[("lenet5", "onnxruntime")]["kind"] == "runtime"
    md = to_markdown(Document("t", blocks))
    assert "| lenet5 | onnxruntime | runtime | 98.98% | 0.00 |" in md and "Kinds: runtime:" in md


def test_notes_are_listed_once_and_variants_not_measured_say_why():
    blocks = optimisation.optimisation_section(with_variants())
    notes, missing = [b.items for b in blocks if isinstance(b, BulletList)]
    assert "lenet5 (pruned-50, pruned-90): magnitude pruning, fine-tuned" in notes
    assert sum("magnitude pruning" in n for n in notes) == 1 and len(notes) == 5
    assert any(isinstance(b, Paragraph) and b.text.startswith("Not exported or not measured") for b in blocks)
    assert missing == [
        "knn (onnxruntime): unsupported, skl2onnx gives uniform-vote probabilities for weights='distance'",
        "knn (litert-int8): unsupported, not a Keras model",
        "knn (pca-20): failed, MemoryError: out of memory",
    ]


def test_heading_and_intro_speak_of_every_kind_measured():
    blocks = optimisation.optimisation_section(with_variants())
    assert blocks[0].text == "Optimisation: runtimes, quantisation, pruning and smaller models"
    intro = blocks[1].text
    assert all(f"{k}:" in intro for k in ("runtime", "quantised", "pruned", "smaller"))
    assert optimisation.optimisation_section(headline_without_variants()) == []  # nothing measured: no section


def test_the_figure_is_drawn_and_its_caption_names_the_fronts_and_the_point_off_the_axis(tmp_path):
    blocks = optimisation.optimisation_section(with_variants(), tmp_path / "figures")
    (image,) = [b for b in blocks if isinstance(b, Image)]
    assert image.path == "figures/optimisation_pareto.png"
    png = (tmp_path / "figures" / "optimisation_pareto.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    by_size = image.caption.split("Front by size, smallest first: ")[1].split(". Front by latency")[0]
    by_latency = image.caption.split("Front by latency, fastest first: ")[1].split(". Below the axis")[0]
    assert [p.split(" (")[0] for p in by_size.split(", ")] == FRONT_BY_SIZE
    assert [p.split(" (")[0] for p in by_latency.split(", ")] == FRONT_BY_LATENCY
    assert "Below the axis" in image.caption and "lenet5 pruned-90 (10.32%)" in image.caption
    assert "knn refs-10000" not in image.caption  # within 10 points of the best, on no front


def test_no_figure_when_no_variant_was_measured(tmp_path):
    only_failed = {"knn": [not_measured("litert-int8", "unsupported", "not a Keras model")]}
    blocks = optimisation.optimisation_section(with_variants(only_failed), tmp_path)
    assert not [b for b in blocks if isinstance(b, Image)] and not list(tmp_path.iterdir())
    assert list(section_table(blocks)) == [("knn", "native")]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The report (Markdown and HTML) of a results file with variants; two of the headline's models keep it quick."""
    data = with_variants().to_json()
    keep = set(VARIANTS)
    data["models"] = {n: r for n, r in data["models"].items() if n in keep}
    data["significance"]["pairs"] = [p for p in data["significance"]["pairs"] if {p["model_a"], p["model_b"]} <= keep]
    run = tmp_path_factory.mktemp("optimised-report")
    write_results(run / "results.json", Results.from_json(json.loads(json.dumps(data))))
    return run, build_reports(run / "results.json")


def test_the_report_builds_in_markdown_and_html_with_the_table_and_the_figure(built):
    run, (md_path, html_path) = built
    md, page = md_path.read_text(), html_path.read_text()
    section = md.split("## Optimisation: runtimes, quantisation, pruning and smaller models")[1].split("\n## ")[0]
    assert "| lenet5 | native | native | 98.98% |" in section and "| knn | refs-10000 | smaller |" in section
    assert "![Accuracy against size and latency with the Pareto fronts](figures/optimisation_pareto.png)" in section
    assert "Not exported or not measured" in section
    assert 'id="optimisation-runtimes-quantisation-pruning-and-smaller-models"' in page
    assert '<img src="figures/optimisation_pareto.png"' in page and "lenet5 litert-int8" in page
    assert (run / "figures" / "optimisation_pareto.png").is_file()
