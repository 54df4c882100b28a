"""Reports of runs and evaluations: every file written, cut-offs from validation, `report` re-renders."""

import json

import pandas as pd
import pytest

from .helpers import cli as run


@pytest.fixture(scope="module")
def trained(tiny_run):
    """The session's tiny finished run (conftest.py)."""
    return tiny_run[0]


def test_run_report_has_every_section_and_file(trained):
    names = {p.name for p in trained.iterdir()}
    assert {"training_curves.png", "confusion_test.png", "roc_test.png", "preprocessing.png", "predictions.csv",
            "report.md", "metrics.json"} <= names
    report = (trained / "report.md").read_text()
    for section in ("## Data", "## Protocol", "## Validation, per fold", "## Holdout test", "Tables 4 and 5",
                    "DeLong 95%", "Wilson 95%", "## Operating points", "## Configuration", "## Environment"):
        assert section in report
    for image in ("training_curves.png", "confusion_test.png", "roc_test.png", "preprocessing.png"):
        assert f"]({image})" in report and (trained / image).read_bytes()[:4] == b"\x89PNG"
    predictions = pd.read_csv(trained / "predictions.csv")
    assert list(predictions.columns) == ["path", "subject", "label", "probability", "prediction", "fold", "part"]
    assert set(predictions["part"]) == {"validation", "test"}


def test_cutoffs_come_from_validation_predictions_only(trained):
    from keras_all.metrics import high_sensitivity_cutoff, youden_cutoff

    metrics = json.loads((trained / "metrics.json").read_text())
    predictions = pd.read_csv(trained / "predictions.csv")
    validation = predictions[predictions["part"] == "validation"]
    points = metrics["operating_points"]
    assert points["youden"]["cutoff"] == pytest.approx(youden_cutoff(validation["label"], validation["probability"]))
    assert points["high_sensitivity"]["cutoff"] == pytest.approx(
        high_sensitivity_cutoff(validation["label"], validation["probability"], 0.99))
    assert points["high_sensitivity"]["validation"]["sensitivity"] >= 0.99
    test = predictions[predictions["part"] == "test"]
    assert points["youden"]["final_on_test"]["n"] == len(test)
    assert metrics["environment"]["keras"] and metrics["final_on_test"]["auc_ci"] is not None


def test_report_command_re_renders_the_same_page(trained):
    before = (trained / "report.md").read_text()
    (trained / "report.md").unlink()
    result = run("report", trained)
    assert result.exit_code == 0, result.output
    assert (trained / "report.md").read_text() == before


def test_report_refuses_an_unfinished_or_foreign_folder(tmp_path):
    (tmp_path / "INCOMPLETE").write_text("")
    assert "has not finished" in run("report", tmp_path).output
    (tmp_path / "INCOMPLETE").unlink()
    assert "not a finished run or evaluation folder" in run("report", tmp_path).output


def test_evaluate_a_run_on_the_real_c_nmc_sample(trained, shared_path, tmp_path):
    out = tmp_path / "evaluation"
    result = run("evaluate", "--model", trained, "--dataset", "c-nmc", "--data-dir", shared_path("cnmc-sample"),
                 "--output", out)
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"metrics.json", "predictions.csv", "report.md", "confusion.png",
                                                "roc.png"}
    metrics = json.loads((out / "metrics.json").read_text())
    trained_cutoff = json.loads((trained / "metrics.json").read_text())["operating_points"]["youden"]["cutoff"]
    assert metrics["cutoff"] == pytest.approx(trained_cutoff) and "Youden" in metrics["cutoff_source"]
    assert metrics["metrics"]["n"] == 52 and metrics["images_used_in_training"] == 0
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == 52 and predictions["probability"].between(0, 1).all()
    assert ((predictions["probability"] >= metrics["cutoff"]) == predictions["prediction"].astype(bool)).all()
    report = (out / "report.md").read_text()
    assert "Tables 4 and 5" in report and "](roc.png)" in report and "optimistic" not in report


def test_evaluate_on_training_images_warns_and_takes_a_given_cutoff(trained, synthetic_tree, tmp_path):
    out = tmp_path / "again"
    result = run("evaluate", "--model", trained / "model.keras", "--dataset", "c-nmc", "--data-dir",
                 synthetic_tree("c-nmc", 54), "--output", out, "--cutoff", 0.3)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    development = (pd.read_csv(trained / "splits.csv")["split"] == "dev").sum()
    assert metrics["cutoff"] == 0.3 and metrics["images_used_in_training"] == development
    assert "were used to train" in result.output and "optimistic" in (out / "report.md").read_text()
    bad = run("evaluate", "--model", trained, "--dataset", "c-nmc", "--data-dir", synthetic_tree("c-nmc", 54),
              "--output", tmp_path / "bad", "--cutoff", 1.5)
    assert bad.exit_code == 1 and "--cutoff 1.5" in bad.output
