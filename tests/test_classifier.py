"""SpikeResNetClassifier: one Keras model whose parts are attributes, its config and `.keras` round trips."""

import keras
import numpy as np
import pytest

from keras_all import SpikePreprocessor, SpikeResNetClassifier, load_config, load_model
from keras_all.layers import FirstSpikeGabor

from .helpers import fitted_preprocessor, save_and_reload

pytestmark = pytest.mark.portable

TINY_WIDTHS = {"model.widths": [[4, 4, 8], [8, 8, 16], [8, 8, 16]], "model.identity_blocks": 0}


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (6, 48, 40, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def classifier(images):
    config = load_config(preset="demo", overrides={**TINY_WIDTHS, "front.spike_size": 40, "front.input_size": 32,
                                                   "front.channels": 3, "front.pca_components": 3})
    _, standardizer = fitted_preprocessor(images, config.front)
    model = SpikeResNetClassifier.from_config_of(config, standardizer)
    model.cutoff = 0.25
    return model


def test_the_parts_are_attributes(classifier):
    assert isinstance(classifier.preprocessor, SpikePreprocessor) and classifier.preprocessor.fitted
    assert classifier.preprocessor.pca.n_components == 3
    assert any(isinstance(layer, FirstSpikeGabor) for layer in classifier.preprocessor.map_layers)
    assert classifier.backbone.output.shape[1:] == classifier.head.kernel.shape[:1]
    assert classifier.head.units == 2 and len(classifier.batch_norms) == 13  # stem + 3 stages x (3 + shortcut)


def test_config_round_trip_rebuilds_the_same_model(classifier, images):
    rebuilt = SpikeResNetClassifier.from_config(classifier.get_config())
    rebuilt.set_weights(classifier.get_weights())
    assert rebuilt.cutoff == 0.25 and rebuilt.preprocessor.front == classifier.preprocessor.front
    np.testing.assert_array_equal(rebuilt.predict(images, verbose=0), classifier.predict(images, verbose=0))


def test_keras_file_round_trip_keeps_weights_fit_and_cutoff(classifier, images, tmp_path):
    reloaded = save_and_reload(classifier, tmp_path)
    assert isinstance(reloaded, SpikeResNetClassifier) and reloaded.cutoff == 0.25
    np.testing.assert_array_equal(reloaded.predict(images, verbose=0), classifier.predict(images, verbose=0))
    assert load_model(tmp_path / "model.keras").cutoff == 0.25


def test_the_model_on_maps_shares_the_classifiers_layers(classifier, images):
    maps = classifier.preprocessor.map_model().predict(images, verbose=0)
    on_maps = classifier.on_maps()
    np.testing.assert_allclose(on_maps.predict(maps, verbose=0), classifier.predict(images, verbose=0), atol=1e-6)
    assert {id(w) for w in on_maps.trainable_weights} <= {id(w) for w in classifier.trainable_weights}


def test_serving_model_decides_at_the_cutoff(classifier, images, tmp_path):
    served = save_and_reload(classifier.serving_model(), tmp_path, "serving.keras").predict(images, verbose=0)
    probabilities = classifier.predict(images, verbose=0)
    np.testing.assert_allclose(served["probability"], probabilities[:, 1], atol=1e-6)
    np.testing.assert_array_equal(served["decision"], classifier.decide(probabilities))
    assert load_model(tmp_path / "serving.keras").cutoff == 0.25


def test_a_preset_gives_an_untrained_model_that_refuses_raw_images_until_fitted(images):
    untrained = SpikeResNetClassifier.from_preset("demo", overrides=TINY_WIDTHS)
    assert not untrained.preprocessor.fitted and untrained.backbone.count_params() > 0
    with pytest.raises(ValueError, match="standardizer is not fitted"):
        untrained.predict(images, verbose=0)
    with pytest.raises(ValueError, match="cutoff=1.5"):
        SpikeResNetClassifier(untrained.preprocessor, untrained.backbone, untrained.head, cutoff=1.5)


def test_a_file_without_a_classifier_is_named(tmp_path):
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(tmp_path / "other.keras")
    with pytest.raises(ValueError, match="other.keras: holds no keras-all classifier"):
        load_model(tmp_path / "other.keras").predict(np.zeros((1, 8, 8, 3), "uint8"))
