"""Splits, the leakage guard, configuration, and cross-validated training end to end."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

import keras_all
from keras_all import PRESETS, SpikeResNetClassifier, load_model
from keras_all.config import load_config
from keras_all.data import load_dataset
from keras_all.front import FrontConfig
from keras_all.training import cross_validate
from keras_all.training.splits import LeakageError, assign_splits, check_no_leak
from keras_all.training.trainer import Trainer

from .helpers import TINY, tiny_config
from .helpers import cli as run


@pytest.fixture(scope="module")
def cnmc(synthetic_tree):
    return load_dataset("c-nmc", synthetic_tree("c-nmc", 54))


def test_holdout_and_folds_are_stratified_and_grouped(cnmc):
    splits = assign_splits(cnmc.samples, folds=4, test_fraction=0.2, seed=0)
    assert set(splits["fold"][splits["split"] == "dev"]) == {0, 1, 2, 3}
    assert (splits["fold"][splits["split"] == "test"] == -1).all()
    parts = splits.assign(part=np.where(splits["split"] == "test", -1, splits["fold"]))
    assert (parts.groupby("subject")["part"].nunique() == 1).all()  # a subject sits in one part only
    assert parts.groupby("part")["label"].nunique().eq(2).all()  # both classes in every part
    share = splits.groupby("split")["label"].mean()
    assert abs(share["test"] - share["dev"]) < 0.15


def test_same_seed_same_splits_other_seed_other_splits(cnmc):
    first = assign_splits(cnmc.samples, 4, 0.2, seed=3)
    pd.testing.assert_frame_equal(first, assign_splits(cnmc.samples, 4, 0.2, seed=3))
    assert not first["fold"].equals(assign_splits(cnmc.samples, 4, 0.2, seed=4)["fold"])


def test_without_subjects_images_are_stratified(synthetic_tree):
    samples = load_dataset("aria", synthetic_tree("aria", 40)).samples
    splits = assign_splits(samples, 4, 0.25, seed=0)
    assert splits.groupby("fold")["label"].mean().between(0.6, 0.9).all()


def test_guard_fires_on_a_planted_leak(cnmc):
    samples = cnmc.samples
    subject = samples["subject_group"].iloc[0]
    same_subject = np.flatnonzero(samples["subject_group"] == subject)
    with pytest.raises(LeakageError, match=f"1 subject\\(s\\) on both sides \\({subject}\\)"):
        check_no_leak(samples, same_subject[:1], same_subject[1:], "planted")
    copy = samples.copy()
    copy.loc[5, "sha256"] = copy.loc[40, "sha256"]
    copy["subject_group"] = ""
    with pytest.raises(LeakageError, match="identical image"):
        check_no_leak(copy, np.array([5]), np.array([40]), "planted")
    check_no_leak(samples, np.flatnonzero(samples["subject"] == "1"), np.flatnonzero(samples["subject"] == "2"), "ok")


def test_too_few_subjects_for_the_folds_is_a_clear_error(cnmc):
    with pytest.raises(ValueError, match="fewer than the 20 parts needed"):
        assign_splits(cnmc.samples, folds=20, test_fraction=0.2, seed=0)


def test_presets_hold_the_papers_values():
    idb = load_config(preset="paper_all_idb")
    nmc = load_config(preset="paper_c_nmc")
    for config in (idb, nmc):
        assert (config.run.folds, config.fit.epochs, config.fit.batch_size, config.fit.learning_rate,
                config.fit.lr_factor) == (4, 10, 32, 1e-3, 0.3)
    assert (idb.front.input_size, idb.front.pca_components, idb.front.channels) == (224, 1200, 3)
    assert (nmc.front.input_size, nmc.front.pca_components, nmc.front.channels) == (100, 500, 3)
    overridden = load_config(overrides={"fit.epochs": 2, "front.input_size": 64, "run.seed": None},
                             preset="paper_c_nmc")
    assert overridden.fit.epochs == 2 and overridden.front.input_size == 64 and overridden.run.seed == 0
    assert overridden.front.pca_components == 500 and overridden.front.spike_size == 100  # the rest: the preset's


@pytest.mark.portable
@pytest.mark.parametrize("name", list(PRESETS))
def test_each_presets_parameter_count_is_its_models(name):
    classifier = SpikeResNetClassifier.from_preset(name)
    assert classifier.backbone.count_params() + classifier.head.count_params() == PRESETS[name]["metadata"]["params"]
    assert classifier.preprocessor.front == load_config(preset=name).front and not classifier.preprocessor.fitted


def test_a_yaml_file_starts_from_its_preset_and_names_what_it_changes(tmp_path):
    path = tmp_path / "experiment.yaml"
    path.write_text("preset: paper_all_idb\nrun:\n  name: small\nfront:\n  input_size: 64\n")
    config = load_config(path, {"fit.epochs": 3})
    paper = load_config(preset="paper_all_idb")
    assert (config.run.name, config.fit.epochs, config.front.input_size) == ("small", 3, 64)
    assert (config.front.pca_components, config.front.channels, config.model.widths) == (1200, 3, paper.model.widths)
    with pytest.raises(ValueError, match="give --preset or a file with its own preset, not both"):
        load_config(path, preset="paper_c_nmc")
    with pytest.raises(ValueError, match="unknown preset 'paper'.*paper_all_idb"):
        load_config(preset="paper")


def test_unknown_and_misplaced_config_keys_are_named_with_their_file(tmp_path):
    path = tmp_path / "bad.yaml"
    for text, message in (
            ("epochz: 3\n", "unknown key epochz; a configuration holds the groups run, model, front, fit"),
            ("front:\n  spike: 4\n", "unknown key front.spike; front takes blur_size, channels, crop, input_size"),
            ("seed: 3\n", "seed belongs in run; write run: {seed: ...}"),
            ("model:\n  batch_size: 4\n", "model.batch_size belongs in fit; write fit: {batch_size: ...}")):
        path.write_text(text)
        with pytest.raises(ValueError) as info:
            load_config(path)
        assert str(info.value).startswith(f"{path}: {message}") and "\n" not in str(info.value)
    with pytest.raises(ValueError, match="overrides: epochs: name it with its group, as fit.epochs"):
        load_config(overrides={"epochs": 3})


def _complete(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.yaml", "splits.csv", "metrics.json", "report.md", "model.keras", "final"} <= names
    assert "INCOMPLETE" not in names
    return json.loads((run_dir / "metrics.json").read_text())


def test_cli_run_on_a_synthetic_tree_writes_a_complete_folder(tiny_run):
    out, data, output = tiny_run
    cnmc = load_dataset("c-nmc", data)
    assert "fold 1/2  epoch 2/2" in output and "final model  epoch 2/2" in output
    metrics = _complete(out)
    assert metrics["protocol"] == "honest" and not metrics["leaky"] and len(metrics["folds"]) == 2
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["fit"]["epochs"] == 2 and config["front"]["spike_size"] == 32  # resolved: preset + override
    splits = pd.read_csv(out / "splits.csv")
    assert list(splits.columns) == ["path", "subject", "label", "sha256", "split", "fold"]
    assert len(splits) == len(cnmc.samples) and set(splits["sha256"]) == set(cnmc.samples["sha256"])
    for k in range(2):
        log = pd.read_csv(out / f"fold_{k}" / "log.csv")
        assert len(log) == 2 and {"accuracy", "val_accuracy", "learning_rate"} <= set(log.columns)
        predictions = pd.read_csv(out / f"fold_{k}" / "predictions.csv")
        validated = set(splits.loc[splits["fold"] == k, "path"])
        assert set(predictions.loc[predictions["part"] == "validation", "path"]) == validated
        assert set(predictions.loc[predictions["part"] == "test", "path"]) == set(
            splits.loc[splits["split"] == "test", "path"])
        assert predictions["probability"].between(0, 1).all()
    assert "## Holdout test" in (out / "report.md").read_text()


def test_the_saved_model_is_the_classifier_with_its_validated_cutoff(tiny_run):
    import keras

    from keras_all.data import read_image

    out, data, _ = tiny_run
    model = keras.saving.load_model(out / "model.keras")
    assert isinstance(model, SpikeResNetClassifier)
    cutoff = json.loads((out / "metrics.json").read_text())["operating_points"]["youden"]["cutoff"]
    assert model.cutoff == cutoff == load_model(out).cutoff == load_model(out).classifier.cutoff
    image = read_image(next(data.rglob("*.bmp")))[None]
    probabilities = model.predict(image, verbose=0)
    assert probabilities.shape == (1, 2) and np.isclose(probabilities.sum(), 1, atol=1e-5)
    assert model.decide(probabilities)[0] == int(probabilities[0, 1] >= cutoff)
    assert model.preprocessor.front.spike_size == 32 and model.preprocessor.fitted
    fold = load_model(out / "fold_0" / "model.keras").classifier  # fold models take raw images too
    assert fold.predict(image, verbose=0).shape == (1, 2)


def test_the_real_c_nmc_sample_splits_by_subject(shared_path):
    data = load_dataset("c-nmc", shared_path("cnmc-sample"))
    config = load_config(preset="paper_c_nmc")
    cross_validate.check_trainable(data, config)  # what train checks before it makes a folder
    splits = assign_splits(data.samples, config.run.folds, config.run.test_fraction, config.run.seed)
    assert len(splits) == 52 and splits.groupby("subject")["split"].nunique().eq(1).all()
    parts = splits.assign(part=np.where(splits["split"] == "test", -1, splits["fold"]))
    assert parts.groupby("subject")["part"].nunique().eq(1).all() and set(parts["part"]) == {-1, 0, 1, 2, 3}


@pytest.mark.slow
def test_paper_protocol_is_labelled_leaky(cnmc, tmp_path):
    out = tmp_path / "paper"
    result = run("train", "--dataset", "c-nmc", "--data-dir", cnmc.root, "--output", out,
                 "--config", tiny_config(tmp_path, {"run.paper_augment_factor": 2}), "--protocol", "paper")
    assert result.exit_code == 0, result.output
    metrics = _complete(out)
    assert metrics["leaky"] and metrics["warning"].startswith("LEAKY")
    assert "LEAKY" in result.output and "LEAKY" in (out / "report.md").read_text()
    splits = pd.read_csv(out / "splits.csv")
    assert len(splits) == 2 * len(cnmc.samples) and set(splits["copy"]) == {0, 1}
    # copies of one image land on both sides: the leak the honest protocol removes
    sides = splits.groupby("path")["split"].nunique()
    assert (sides > 1).any()


@pytest.mark.slow
def test_same_seed_same_metrics(tiny_run, tmp_path, monkeypatch):
    first, data, _ = tiny_run  # trained in another process, by the installed command, from the data's parent
    monkeypatch.chdir(data.parent)  # the same relative paths in splits.csv
    again = run("train", "--dataset", "c-nmc", "--data-dir", data.name, "--preset", "demo", "--config",
                tiny_config(tmp_path), "--output", tmp_path / "again", "--epochs", 2, "--seed", 5)
    assert again.exit_code == 0, again.output
    assert (first / "splits.csv").read_text() == (tmp_path / "again" / "splits.csv").read_text()
    assert (first / "metrics.json").read_text() == (tmp_path / "again" / "metrics.json").read_text()


@pytest.mark.slow
def test_resume_continues_after_the_last_finished_fold(cnmc, tmp_path, monkeypatch):
    config = load_config(tiny_config(tmp_path))
    out = tmp_path / "run"
    real_fold = Trainer.train_fold
    calls = []

    def crash_on_second_fold(trainer, fold, *args, **kwargs):
        calls.append(fold.name)
        if fold.name == "fold_1":
            raise KeyboardInterrupt("power cut")
        return real_fold(trainer, fold, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train_fold", crash_on_second_fold)
    with pytest.raises(KeyboardInterrupt):
        keras_all.train(cnmc, config, output=out, echo=lambda _: None)
    assert "power cut" in (out / "INCOMPLETE").read_text() and not (out / "metrics.json").exists()
    first_log = (out / "fold_0" / "log.csv").stat().st_mtime_ns
    monkeypatch.setattr(Trainer, "train_fold", real_fold)
    with pytest.raises(ValueError, match="not empty; pass --resume"):
        keras_all.train(cnmc, config, output=out, echo=lambda _: None)
    said = []
    keras_all.train(cnmc, config, output=out, resume=True, echo=said.append)
    assert "fold 1/2: already finished, kept" in said
    assert (out / "fold_0" / "log.csv").stat().st_mtime_ns == first_log
    assert len(_complete(out)["folds"]) == 2
    with pytest.raises(ValueError, match="already complete"):
        keras_all.train(cnmc, config, output=out, resume=True, echo=lambda _: None)


def test_resume_refuses_other_settings(cnmc, tmp_path):
    out = tmp_path / "run"
    (out).mkdir()
    (out / "config.yaml").write_text(load_config(tiny_config(tmp_path)).to_yaml())
    (out / "INCOMPLETE").write_text("")
    changed = load_config(tiny_config(tmp_path), {"fit.epochs": 3})
    with pytest.raises(ValueError, match="configuration differs"):
        keras_all.train(cnmc, changed, output=out, resume=True, echo=lambda _: None)


@pytest.mark.portable
def test_balancing_copies_fill_the_minority_class_with_augmented_maps():
    from keras_all.training.model import balance_with_copies

    rng = np.random.default_rng(0)
    maps = rng.random((10, 16, 16, 1)).astype("float32")
    labels = np.array([1] * 7 + [0] * 3)
    x, y = balance_with_copies(maps, labels, seed=3)
    assert np.bincount(y).tolist() == [7, 7] and len(x) == 14
    np.testing.assert_array_equal(x[:10], maps)  # the originals first, unchanged
    copies = x[10:]
    assert not any(np.allclose(copy, original) for copy in copies for original in maps)  # augmented, not duplicated
    again, _ = balance_with_copies(maps, labels, seed=3)
    np.testing.assert_array_equal(again, x)  # seeded
    one_class = balance_with_copies(maps[:7], labels[:7], seed=3)
    assert len(one_class[0]) == 7  # nothing to copy from


@pytest.mark.portable
def test_the_paper_protocol_z_scores_its_test_images_with_their_own_statistics():
    from keras_all.front import Standardizer
    from keras_all.training.cross_validate import own_statistics

    rng = np.random.default_rng(1)
    pool = rng.random((40, 8, 8, 1)).astype("float32")
    test = (rng.random((10, 8, 8, 1)) * 3 + 2).astype("float32")  # other statistics than the pool's
    standardizer = Standardizer(FrontConfig(spike_size=8, input_size=8)).fit(pool)
    shifted = own_statistics(test, standardizer)
    zscored = (shifted - standardizer.mean_) / np.sqrt(standardizer.variance_)  # what the model's ZScore does
    np.testing.assert_allclose(zscored.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(zscored.std(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(zscored, (test - test.mean(axis=0)) / test.std(axis=0), atol=1e-4)


@pytest.mark.slow
@pytest.mark.portable
def test_one_model_per_run_trains_each_fold_as_a_new_model_would():
    import keras

    from keras_all.config import from_dict
    from keras_all.front import Standardizer
    from keras_all.training.model import FoldModel

    config = from_dict({**TINY, "fit": {"batch_size": 8, "epochs": 10}})  # 20 steps: traced, not eager
    rng = np.random.default_rng(0)
    maps = (rng.random((2, 16, 32, 32, 1)) < 0.1).astype("float32")  # two folds' training maps
    targets = keras.utils.to_categorical(rng.integers(0, 2, 16), 2)
    standardizers = [Standardizer(config.front, seed).fit(maps[seed]) for seed in (0, 1)]

    def train(fold_model, seed, n=16):
        keras.utils.set_random_seed(seed)
        _, model = fold_model.start(standardizers[seed], seed, n)
        model.fit(maps[seed][:n], targets[:n], epochs=2, batch_size=8, verbose=0)
        model.optimizer.learning_rate = 1e-5  # as ReduceLROnPlateau leaves it
        return model, fold_model.finish()

    run = FoldModel(config)
    first_model, _ = train(run, 0)
    reused_model, reused = train(run, 1)
    _, alone = train(FoldModel(config), 1)
    tensorflow = keras.backend.backend() == "tensorflow"
    assert (reused_model is first_model) == tensorflow  # traced once for whole batches
    assert reused.preprocessor.standardizer is standardizers[1]
    for mine, new in zip(reused.get_weights(), alone.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, new)
    short_model, _ = train(run, 1, n=12)  # a short last batch: a model (and trace) of that kind
    assert short_model is not first_model
