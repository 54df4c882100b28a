"""Training that adapts to the data's size (the honest protocol's defaults), subsampling, the fold ensemble and the
saliency figure."""

import contextlib
import types

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

import keras_all
from keras_all.config import PROTOCOL_DEFAULTS, FitConfig, ModelConfig, RunConfig, TrainConfig, from_dict, load_config
from keras_all.data import load_dataset
from keras_all.evaluation.saliency import chosen_images, integrated_gradients
from keras_all.front import FrontConfig, Standardizer
from keras_all.loader import load_model
from keras_all.models import FoldEnsemble, SpikeResNetClassifier
from keras_all.training import trainer as trainer_module
from keras_all.training.coordinator import Coordinator
from keras_all.training.cross_validate import final_epochs
from keras_all.training.map_source import InMemoryMaps
from keras_all.training.trainer import ValidationScores, patiences

from .helpers import save_and_reload, tiny_config

pytestmark = pytest.mark.portable

SMALL = {"model": ModelConfig(identity_blocks=0, widths=((4, 4, 8), (8, 8, 16), (8, 8, 16))),
         "front": FrontConfig(spike_size=32, input_size=32)}
PAPER = RunConfig(protocol="paper")


@pytest.fixture(scope="module")
def cnmc(synthetic_tree):
    return load_dataset("c-nmc", synthetic_tree("c-nmc", 54))


def test_each_protocol_fills_in_its_own_defaults_and_the_paper_presets_keep_the_papers():
    honest, paper = TrainConfig(), TrainConfig(PAPER)
    for config, protocol in ((honest, "honest"), (paper, "paper")):
        filled = {f"{group}.{name}": value for group, settings in config.to_dict().items()
                  for name, value in settings.items() if f"{group}.{name}" in PROTOCOL_DEFAULTS[protocol]}
        assert filled == PROTOCOL_DEFAULTS[protocol]
    assert (honest.fit.epochs, honest.fit.stop_on, honest.fit.recalibrate_bn) == (60, "auc", True)
    for preset in ("paper_all_idb", "paper_c_nmc"):
        config = load_config(preset=preset)
        assert (config.fit.epochs, config.fit.stop_on, config.model.bn_momentum, config.fit.recalibrate_bn) == (
            10, "off", 0.99, False)
    assert TrainConfig(fit=FitConfig(stop_on="loss", epochs=5)).fit.epochs == 5  # what is set stays set
    assert from_dict(yaml.safe_load("fit: {stop_on: off}")).fit.stop_on == "off"  # YAML's unquoted off is false


@pytest.mark.parametrize("values, message", [
    ({"fit": {"stop_on": "accuracy"}}, "fit.stop_on='accuracy': use one of auc, loss, off"),
    ({"run": {"final": "best"}}, "run.final='best': use one of refit, ensemble"),
    ({"run": {"max_per_class": 1}}, "run.max_per_class=1: must be an integer of at least 2"),
    ({"fit": {"stop_patience": 0}}, "fit.stop_patience=0"),
])
def test_bad_adaptive_settings_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        from_dict(values)


def test_the_final_model_trains_for_the_median_best_epoch():
    folds = [{"best_epoch": b} for b in (17, 32, 7, 9)]
    assert final_epochs(TrainConfig(), folds) == 13  # median 13.0
    assert final_epochs(TrainConfig(), folds[:3]) == 17
    assert final_epochs(TrainConfig(), [{"best_epoch": 1}, {"best_epoch": 2}]) == 2  # 1.5, rounded up
    assert final_epochs(TrainConfig(fit=FitConfig(stop_on="off", epochs=7)), folds) == 7


def test_a_subsample_is_class_balanced_seeded_and_ordered(cnmc):
    counts = cnmc.samples["label"].value_counts()
    small = cnmc.subsample(10, seed=3)
    assert small.samples["label"].value_counts().to_dict() == {0: 10, 1: 10}
    kept = cnmc.samples["path"].isin(small.samples["path"])
    assert small.samples["path"].tolist() == cnmc.samples.loc[kept, "path"].tolist()
    assert small.samples.equals(cnmc.subsample(10, seed=3).samples)
    assert not small.samples.equals(cnmc.subsample(10, seed=4).samples)
    assert small.subsample_of["per_label"] == {str(k): int(v) for k, v in counts.sort_index().items()}
    assert len(cnmc.subsample(1000, seed=0).samples) == len(cnmc.samples)  # a class with fewer keeps all


def test_validation_scores_are_the_probabilities_own(tmp_path):
    class Fixed(keras.Model):
        def call(self, x):
            return keras.ops.concatenate([1 - x[:, :1], x[:, :1]], axis=-1)

    class Scoring:  # what a FoldModel gives the callback: the model to score with, where to score it
        def scoring(self):
            return None, Fixed()

        def on_this_machine(self):
            return contextlib.nullcontext()

    labels = np.array([0, 0, 1, 1, 1])
    p = np.array([[0.1], [0.6], [0.4], [0.8], [0.9]], "float32")
    config = load_config(tiny_config(tmp_path, {"fit.batch_size": 2, "fit.recalibrate_bn": False}))
    source = InMemoryMaps(pd.DataFrame({"label": labels}), p)
    trainer = types.SimpleNamespace(config=config, fold_model=Scoring(), source=source, coordinator=Coordinator())
    scores = ValidationScores(trainer, p, labels, train=p, seed=0)
    logs = {}
    scores.on_epoch_end(0, logs)
    assert logs["val_accuracy"] == pytest.approx(0.6) and logs["val_auc"] == pytest.approx(5 / 6)
    assert logs["val_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.4, 0.8, 0.9])), rel=1e-5)


@pytest.mark.slow
def test_early_stopping_keeps_the_best_epoch_and_the_final_model_trains_the_median(cnmc, tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_module, "STOP_PATIENCE_STEPS", 1)  # the configured patience of 1 epoch, unstretched
    config = load_config(tiny_config(tmp_path, {"fit.epochs": 6, "fit.stop_patience": 1, "fit.learning_rate": 0.05}))
    run = keras_all.train(cnmc, config, output=tmp_path / "run", echo=lambda _: None)
    metrics = run.metrics()
    for k, fold in enumerate(metrics["folds"]):
        log = pd.read_csv(run / f"fold_{k}" / "log.csv")
        assert len(log) == fold["epochs_trained"] and "val_auc" in log
        assert fold["best_epoch"] == int(log["val_auc"].to_numpy().argmax()) + 1  # the first best
        assert fold["epochs_trained"] <= min(6, fold["best_epoch"] + 1)  # stopped one epoch after its best
    final_log = pd.read_csv(run / "final" / "log.csv")
    assert len(final_log) == final_epochs(config, metrics["folds"])
    assert "each fold stopped early on its validation auc" in (run / "report.md").read_text()


def _members(count=3):
    config = TrainConfig(**SMALL)
    images = np.random.default_rng(0).integers(0, 256, (6, 40, 40, 3), dtype=np.uint8)
    members = []
    for k in range(count):
        keras.utils.set_random_seed(k)
        maps = SpikeResNetClassifier.from_config_of(config).preprocessor.map_model().predict(images, verbose=0)
        members.append(SpikeResNetClassifier.from_config_of(config, Standardizer(config.front, k).fit(maps + k)))
    return members, images


@pytest.mark.slow
def test_the_ensemble_is_the_mean_of_its_members_and_reloads(tmp_path):
    members, images = _members()
    ensemble = FoldEnsemble(members, cutoff=0.4)
    expected = np.mean([m.predict(images, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(ensemble.predict(images, verbose=0), expected, atol=1e-6)
    reloaded = save_and_reload(ensemble, tmp_path)
    assert isinstance(reloaded, FoldEnsemble) and reloaded.cutoff == 0.4
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), expected, atol=1e-6)
    loaded = load_model(tmp_path / "model.keras")  # what evaluate, export and predict call
    assert isinstance(loaded.classifier, FoldEnsemble) and loaded.cutoff == 0.4
    np.testing.assert_array_equal(loaded.predict(images)[1], (expected[:, 1] >= 0.4).astype(int))


@pytest.mark.slow_under_jax
def test_members_of_different_fronts_are_refused():
    members, _ = _members(1)
    other = SpikeResNetClassifier.from_config_of(TrainConfig(**{**SMALL, "front": FrontConfig(spike_size=40,
                                                                                              input_size=32)}))
    with pytest.raises(ValueError, match="one front configuration"):
        FoldEnsemble([members[0], other])


@pytest.mark.slow
def test_integrated_gradients_add_up_to_the_change_in_probability():
    members, images = _members(1)
    model = members[0].on_maps()
    maps = keras.ops.convert_to_numpy(members[0].preprocessor.spike_maps(images[:2]))
    baseline = np.broadcast_to(keras.ops.convert_to_numpy(members[0].preprocessor.zscore.mean), maps.shape[1:])
    attribution = integrated_gradients(model, maps, baseline, steps=64)
    change = model.predict(maps, verbose=0)[:, 1] - model.predict(np.array(baseline)[None], verbose=0)[0, 1]
    np.testing.assert_allclose(attribution.reshape(2, -1).sum(axis=1), change, atol=0.02 + 0.05 * np.abs(change).max())


def test_the_saliency_figure_shows_the_surest_right_and_wrong_of_each_class():
    test = pd.DataFrame({"path": list("abcdefg"), "label": [1, 1, 1, 0, 0, 0, 0],
                         "probability": [0.9, 0.6, 0.2, 0.1, 0.3, 0.7, 0.55]})
    shown = chosen_images(test, cutoff=0.5)
    assert shown["path"].tolist() == ["a", "c", "d", "f"]
    assert shown["shown"].tolist()[1] == "ALL, wrong: P(ALL) 0.200"
    assert chosen_images(test[test["path"] != "c"], 0.5)["path"].tolist() == ["a", "d", "f"]  # no wrong ALL


def test_patience_spans_enough_optimizer_steps_on_a_small_set():
    adaptive = TrainConfig()  # patience 10 and 5 epochs, batch 32
    assert patiences(adaptive, 160) == (30, 15)  # 5 steps an epoch: 150 and 75 steps
    assert patiences(adaptive, 3200) == (10, 5)  # 100 steps an epoch: the configured epochs already span more
    assert patiences(TrainConfig(PAPER), 160) == (10, 5)  # the paper's schedule is left alone
