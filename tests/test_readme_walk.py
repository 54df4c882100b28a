"""The README's commands end to end, each as a separate `keras-all` process (see conftest.readme_walk)."""

import json

import pandas as pd
import pytest

STEPS = ["synth", "inspect", "train", "evaluate", "export", "predict", "report", "compare", "preprocess"]


@pytest.mark.parametrize("step", STEPS)
def test_each_step_succeeds_in_a_fresh_process(readme_walk, step):
    _, results = readme_walk
    assert step in results, f"an earlier step failed: {[s for s in STEPS if s in results][-1]}"
    result = results[step]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_the_walk_leaves_what_each_step_promises(readme_walk):
    root, results = readme_walk
    assert json.loads(results["inspect"].stdout)["images"] == 54  # 48 training cells + 6 preliminary
    assert not (root / "run" / "INCOMPLETE").exists() and (root / "run" / "model.keras").is_file()
    assert json.loads((root / "evaluation" / "metrics.json").read_text())["images_used_in_training"] > 0
    assert {p.name for p in (root / "export").iterdir()} >= {"saved_model", "model.keras", "MODEL_CARD.md"}
    table = pd.read_csv(root / "predictions.csv")
    assert len(table) >= 54 and table["probability"].dropna().between(0, 1).all()
    assert "wrote" in results["report"].stdout and (root / "fig" / "contact_sheet.png").is_file()


def test_the_run_and_its_evaluation_stand_beside_the_colour_baseline(readme_walk):
    root, results = readme_walk
    run = root / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    base, versus = metrics["baseline"], metrics["versus_baseline"]
    assert base["final_on_test"]["n"] == metrics["n_test"] == versus["n"]
    assert 0 <= versus["auc"]["p_value"] <= 1 and 0 <= versus["accuracy"]["p_value"] <= 1
    assert versus["auc"]["difference"] == pytest.approx(versus["auc"]["auc_a"] - versus["auc"]["auc_b"])
    ours = pd.read_csv(run / "predictions.csv").query("part == 'test'")
    theirs = pd.read_csv(run / "baseline_predictions.csv").query("part == 'test'")
    assert sorted(ours["path"]) == sorted(theirs["path"])
    assert versus["auc"]["auc_a"] == pytest.approx(metrics["final_on_test"]["auc"])  # the delivered (refit) model
    report = (run / "report.md").read_text()
    assert "## Against the colour-histogram baseline (same splits)" in report and "paired DeLong p" in report
    assert "![saliency](saliency.png)" in report and (run / "saliency.png").stat().st_size > 10_000
    assert "colour-histogram baseline, same splits: accuracy" in results["train"].stdout
    evaluation = json.loads((root / "evaluation" / "metrics.json").read_text())
    assert evaluation["baseline"]["metrics"]["n"] == evaluation["metrics"]["n"] == 54
    assert "baseline_probability" in pd.read_csv(root / "evaluation" / "predictions.csv")
    assert "## Against the colour-histogram baseline" in (root / "evaluation" / "report.md").read_text()


def test_compare_tests_two_runs_on_one_test_set_and_refuses_two_sets(readme_walk):
    from .helpers import shell

    root, results = readme_walk
    same = results["compare"].stdout
    assert "difference +0.000" in same and "paired DeLong p = 1" in same and "McNemar exact p = 1" in same
    as_json = json.loads(shell("compare", root / "run", root / "run", "--json", cwd=root).stdout)
    assert as_json["auc"]["difference"] == 0 and as_json["accuracy"]["only_a_right"] == 0
    other = shell("compare", root / "run", root / "evaluation", cwd=root)
    assert other.returncode == 1 and "Error: the two test sets differ" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1


def test_no_tensorflow_start_up_or_retracing_lines_reach_the_console(readme_walk):
    _, results = readme_walk
    for step, result in results.items():
        for noise in ("absl::InitializeLog", "oneDNN", "cudart_stub", "cpu_feature_guard", "retracing", "E0000"):
            assert noise not in result.stderr, f"{step}: {noise} in {result.stderr[:2000]}"


def test_the_exported_savedmodel_serves_what_evaluate_scored_on_raw_files(readme_walk):
    """Train, evaluate and serve see the same pixels: the 450 px cells, given raw to the exported SavedModel by
    `predict`, get the probabilities `evaluate` reported for them (one resize, AreaResizing, on both paths)."""
    root, _ = readme_walk
    evaluated = pd.read_csv(root / "evaluation" / "predictions.csv")
    served = pd.read_csv(root / "predictions.csv").dropna(subset=["probability"])
    from pathlib import Path

    evaluated["path"] = evaluated["path"].map(lambda p: str(Path(p).resolve()))
    served["path"] = served["path"].map(lambda p: str((root / p).resolve()))
    both = evaluated.merge(served, on="path", suffixes=("_evaluated", "_served"))
    assert len(both) == len(evaluated) == 54
    difference = (both["probability_evaluated"] - both["probability_served"]).abs()
    assert difference.max() <= 1e-4, both.loc[difference.idxmax()]
