"""keras-tuner search over the block widths: the space, a search end to end, resume, and chief/worker mode."""

import os
import re
import subprocess
import time

import keras_tuner
import numpy as np
import pandas as pd
import pytest
import yaml

import keras_all.tuning as tuning
from keras_all import SpikeResNetClassifier
from keras_all.config import TrainConfig, load_config
from keras_all.front import FrontConfig
from keras_all.training import map_source
from keras_all.training.trainer import Trainer

from .helpers import KERAS_ALL, cli, free_ports, shell, tiny_config


@pytest.mark.portable
def test_the_default_point_is_the_paper_configuration():
    hypermodel = tuning.ResNetHyperModel(TrainConfig(front=FrontConfig(channels=3)))
    hp = keras_tuner.HyperParameters()
    assert hypermodel.build(hp).count_params() == 489_922
    assert hypermodel.config_for(hp).model.widths == ((32, 32, 64), (64, 64, 128), (64, 64, 256))
    assert hp.values["identity_blocks"] == 2 and hp.values["learning_rate"] == 1e-3
    stage2 = next(h for h in hp.space if h.name == "stage2_bottleneck")
    assert list(stage2.values) == [16, 32, 64]

    wider = keras_tuner.HyperParameters()
    wider.values.update({"stage4_output": 512, "identity_blocks": 1})
    config = hypermodel.config_for(wider)
    assert config.model.widths[2] == (64, 64, 512) and config.model.identity_blocks == 1
    assert hypermodel.build(wider).count_params() != 489_922


@pytest.mark.parametrize("kind", tuning.TUNERS)
def test_either_tuner_starts_with_the_base_point_then_explores(kind, tmp_path):
    base = load_config(tiny_config(tmp_path))
    search = tuning.make_tuner(base, tmp_path / "search", tuning.SearchSettings(kind, 3, "val_auc"), overwrite=True)
    first = search.oracle.create_trial("tuner0")
    assert search.hypermodel.config_for(first.hyperparameters.copy()) == base
    search.oracle.update_trial(first.trial_id, {"val_auc": 0.7})
    first.status = "COMPLETED"
    search.oracle.end_trial(first)
    second = search.oracle.create_trial("tuner0")
    assert second.status == "RUNNING" and second.hyperparameters.values != first.hyperparameters.values
    with pytest.raises(ValueError, match="objective='loss'"):
        tuning.SearchSettings(kind, 3, "loss")


@pytest.mark.slow
def test_a_search_scores_dev_folds_only_resumes_after_an_interruption_and_writes_its_best_config(
        synthetic_tree, tmp_path, monkeypatch):
    data_dir = synthetic_tree("c-nmc", 54)
    seen = {"maps": [], "folds": []}
    real_maps, real_fold = map_source.spike_maps, Trainer.train_fold

    def spy_maps(paths, front):
        seen["maps"] += list(paths)
        return real_maps(paths, front)

    def spy_fold(trainer, fold, *args, **kwargs):
        paths = trainer.source.samples["path"].to_numpy()
        seen["folds"].append((fold.label, paths[fold.train], paths[fold.validation], fold.test))
        if fold.label == "trial 1 fold 2/2" and not seen.get("interrupted"):
            seen["interrupted"] = True
            raise KeyboardInterrupt
        return real_fold(trainer, fold, *args, **kwargs)

    monkeypatch.setattr(map_source, "spike_maps", spy_maps)  # where the search's held maps are made
    monkeypatch.setattr(Trainer, "train_fold", spy_fold)
    out = tmp_path / "search"
    search = ("tune", "--dataset", "c-nmc", "--data-dir", data_dir, "--config", tiny_config(tmp_path), "--max-trials",
              2, "--output", out)
    first = cli(*search)
    assert first.exit_code == 130 and "stopped by KeyboardInterrupt" in (out / "INCOMPLETE").read_text()
    assert not (out / "results.csv").exists()
    before = len(seen["folds"])
    result = cli(*search, "--resume")
    assert result.exit_code == 0, result.output
    assert "2 of 2 trials completed" in result.output and not (out / "INCOMPLETE").exists()
    # trial 0 is kept; trial 1 fold 1 loads its metrics; only trial 1 fold 2 trains again
    assert [label for label, *_ in seen["folds"][before:]] == ["trial 1 fold 1/2", "trial 1 fold 2/2"]

    splits = pd.read_csv(out / "splits.csv")
    holdout = set(splits.loc[splits["split"] == "test", "path"])
    dev = set(splits.loc[splits["split"] == "dev", "path"])
    assert len(holdout) > 0 and set(seen["maps"]) == dev and len(seen["maps"]) == 2 * len(dev)
    for _, train_paths, val_paths, test_idx in seen["folds"]:
        assert test_idx is None
        assert not holdout & (set(train_paths) | set(val_paths))
        assert not set(train_paths) & set(val_paths) and set(train_paths) | set(val_paths) == dev

    table = pd.read_csv(out / "results.csv", dtype={"trial": str})
    assert list(table["status"]) == ["COMPLETED", "COMPLETED"] and list(table["base"]) == [True, False]
    assert table.loc[0, "stage2"] == "4-4-8" and table.loc[0, "parameters"] > 0
    folds = table[["fold_1", "fold_2"]].to_numpy()
    assert ((folds >= 0) & (folds <= 1)).all()
    np.testing.assert_allclose(table["mean"], folds.mean(axis=1))
    report = (out / "report.md").read_text()
    assert re.search(r"^\| 0\* +\| 4-4-8 +\|", report, re.MULTILINE)
    assert "holdout test (never read by the search)" in report

    best = table.sort_values(["mean", "trial"], ascending=[False, True]).iloc[0]
    config = load_config(out / "best_config.yaml")
    assert config.run.name == "tiny-tuned" and config.fit.learning_rate == best["learning_rate"]
    assert "-".join(map(str, config.model.widths[0])) == best["stage2"]
    assert config.model.identity_blocks == best["identity_blocks"]
    classifier = SpikeResNetClassifier.from_config_of(config)  # the preset trains as any configuration does
    assert classifier.backbone.count_params() + classifier.head.count_params() == best["parameters"]
    again = cli(*search[:-4], "--max-trials", 3, "--output", out, "--resume")
    assert again.exit_code != 0 and "already complete" in again.output


def test_bad_search_settings_are_one_error_line(synthetic_tree, tmp_path, monkeypatch):
    data_dir = synthetic_tree("c-nmc", 54)
    paper = cli("tune", "--dataset", "c-nmc", "--data-dir", data_dir, "--config",
                tiny_config(tmp_path, {"run.protocol": "paper"}), "--output", tmp_path / "a")
    assert paper.exit_code != 0 and "honest protocol only" in paper.output
    across = cli("tune", "--dataset", "c-nmc", "--data-dir", data_dir, "--config",
                 tiny_config(tmp_path, {"fit.distribute": "multi-worker"}), "--output", tmp_path / "m")
    assert across.exit_code != 0 and "multi-worker is for keras-all train" in across.output
    assert not (tmp_path / "m").exists()
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    half = cli("tune", "--dataset", "c-nmc", "--data-dir", data_dir, "--config", tiny_config(tmp_path),
               "--output", tmp_path / "b")
    assert half.exit_code != 0 and "KERASTUNER_ORACLE_PORT is not" in half.output


@pytest.mark.shell
def test_a_one_trial_search_from_the_shell_writes_a_best_config_that_train_takes(synthetic_tree, tmp_path):
    out = tmp_path / "search"
    base = tiny_config(tmp_path)
    result = shell("tune", "--dataset", "c-nmc", "--data-dir", synthetic_tree("c-nmc", 54), "--config", base,
                   "--max-trials", 1, "--output", out)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out / "results.csv", dtype={"trial": str})
    assert len(table) == 1 and table["status"].tolist() == ["COMPLETED"] and 0 <= table["mean"][0] <= 1
    # the first trial is the base configuration's point
    assert load_config(out / "best_config.yaml") == load_config(base).with_values({"run.name": "tiny-tuned"})


@pytest.mark.slow
def test_distributed_search_with_a_chief_and_two_workers_on_loopback(synthetic_tree, tmp_path):
    out = tmp_path / "search"
    args = ["tune", "--dataset", "c-nmc", "--data-dir", str(synthetic_tree("c-nmc", 54)), "--config",
            str(tiny_config(tmp_path)), "--max-trials", "4", "--output", str(out)]
    program = [KERAS_ALL, *args]  # the installed command, as on the machines of a distributed search
    env = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(free_ports(1)[0])}
    chief = subprocess.Popen(program, env={**env, "KERASTUNER_TUNER_ID": "chief"}, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (out / "search.yaml").exists() and chief.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)  # the chief opens the folder before any worker writes to it
    workers = [subprocess.Popen(program, env={**env, "KERASTUNER_TUNER_ID": f"tuner{i}"}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for i in range(2)]
    try:
        logs = [w.communicate(timeout=600)[0] for w in workers]
        chief_log = chief.communicate(timeout=120)[0]
    finally:
        for process in (chief, *workers):
            process.kill()
    for process, log in zip((chief, *workers), (chief_log, *logs)):
        assert process.returncode == 0, log[-3000:]
    for i, log in enumerate(logs):
        assert f"worker tuner{i}: no trials left" in log
        assert "fold 1/2  epoch 1/1" in log  # each worker ran at least one trial
    table = pd.read_csv(out / "results.csv", dtype={"trial": str})
    assert len(table) == 4 and (table["status"] == "COMPLETED").all() and table["mean"].notna().all()
    assert "4 of 4 trials completed" in chief_log
    assert yaml.safe_load((out / "best_config.yaml").read_text())["run"]["name"] == "tiny-tuned"
