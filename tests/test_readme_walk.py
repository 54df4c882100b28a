"""The README's commands end to end, each as a separate `keras-all` process (see conftest.readme_walk)."""

import json

import numpy as np
import pandas as pd
import pytest

from .conftest import readme_walk_steps, step_names

STEPS = step_names(readme_walk_steps()[1])


def test_the_walk_tries_every_command_a_user_starts_with():
    assert STEPS == ["synth", "inspect", "train", "evaluate", "export", "predict", "report", "stress", "train again",
                     "compare", "preprocess"]


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
    development = (pd.read_csv(root / "run" / "splits.csv")["split"] == "dev").sum()
    evaluation = json.loads((root / "evaluation" / "metrics.json").read_text())
    assert evaluation["images_used_in_training"] == development  # the run's own set: its development images
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
    """The walk's two runs (two epochs and one, one seed: the same splits): compare's AUC difference and McNemar counts
    are what their prediction tables give, worked out here on their own; two test sets are refused."""
    from scipy.stats import binomtest
    from sklearn.metrics import roc_auc_score

    from .helpers import shell

    root, results = readme_walk
    a, b = (pd.read_csv(root / run / "predictions.csv").query("part == 'test'") for run in ("run", "run-short"))
    assert sorted(a["path"]) == sorted(b["path"])  # one seed, one data set: the same splits
    both = a.merge(b, on="path", suffixes=("_a", "_b"))
    assert not np.allclose(both["probability_a"], both["probability_b"])  # two epochs against one: two models
    expected = roc_auc_score(both["label_a"], both["probability_a"]) - roc_auc_score(both["label_a"],
                                                                                    both["probability_b"])
    printed = results["compare"].stdout
    assert f"difference {expected:+.3f}" in printed
    cutoffs = [json.loads((root / run / "metrics.json").read_text())["operating_points"]["youden"]["cutoff"]
               for run in ("run", "run-short")]
    right_a = (both["probability_a"] >= cutoffs[0]) == both["label_a"]
    right_b = (both["probability_b"] >= cutoffs[1]) == both["label_a"]
    only_a, only_b = int((right_a & ~right_b).sum()), int((right_b & ~right_a).sum())
    assert f"right only by A {only_a}, only by B {only_b} of {len(both)} images" in printed
    p_value = binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0
    assert f"McNemar exact p = {p_value:.3g}" in printed
    other = shell("compare", root / "run", root / "evaluation", cwd=root)
    assert other.returncode == 1 and "Error: the two test sets differ" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1


def test_no_tensorflow_start_up_or_retracing_lines_reach_the_console(readme_walk):
    _, results = readme_walk
    for step, result in results.items():
        for noise in ("absl::InitializeLog", "oneDNN", "cudart_stub", "cpu_feature_guard", "retracing", "E0000"):
            assert noise not in result.stderr, f"{step}: {noise} in {result.stderr[:2000]}"


def test_the_exported_savedmodel_serves_what_training_and_evaluate_scored_on_raw_files(readme_walk):
    """Train, evaluate and serve see the same pixels: the 450 px cells, given raw to the exported SavedModel by
    `predict`, get the probabilities the run's holdout test and `evaluate` reported for them (one resize,
    AreaResizing, on every path)."""
    root, _ = readme_walk

    def by_path(table):
        return table.assign(path=[str((root / p).resolve()) for p in table["path"]]).set_index("path")

    served = by_path(pd.read_csv(root / "predictions.csv").dropna(subset=["probability"]))["probability"]
    evaluated = by_path(pd.read_csv(root / "evaluation" / "predictions.csv"))["probability"]
    trained = by_path(pd.read_csv(root / "run" / "predictions.csv").query("part == 'test'"))["probability"]
    assert len(served) == len(evaluated) == 54 and len(trained) >= 10
    assert (evaluated - served.loc[evaluated.index]).abs().max() <= 1e-4
    assert (trained - served.loc[trained.index]).abs().max() <= 1e-4
