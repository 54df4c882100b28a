"""The README's commands end to end, each as a separate `keras-all` process (see conftest.readme_walk)."""

import json

import pandas as pd
import pytest

STEPS = ["synth", "inspect", "train", "evaluate", "export", "predict", "report", "preprocess"]


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


def test_no_tensorflow_start_up_or_retracing_lines_reach_the_console(readme_walk):
    _, results = readme_walk
    for step, result in results.items():
        for noise in ("absl::InitializeLog", "oneDNN", "cudart_stub", "cpu_feature_guard", "retracing", "E0000"):
            assert noise not in result.stderr, f"{step}: {noise} in {result.stderr[:2000]}"
