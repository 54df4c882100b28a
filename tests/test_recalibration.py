"""Batch-norm statistics re-estimated on un-augmented maps after training (``recalibrate_bn``)."""

import keras
import numpy as np
import pytest

from keras_all.config import FitConfig, ModelConfig, RunConfig, TrainConfig, from_dict
from keras_all.front import FrontConfig, Standardizer
from keras_all.training.model import FoldModel, recalibrate_batch_norm

pytestmark = pytest.mark.portable


def _array(variable):
    return keras.ops.convert_to_numpy(variable).copy()


@pytest.mark.slow_under_jax
def test_statistics_become_those_of_the_plain_maps_and_nothing_else_moves():
    config = TrainConfig(model=ModelConfig(identity_blocks=0, widths=((4, 4, 8), (8, 8, 16), (8, 8, 16))),
                         front=FrontConfig(spike_size=32, input_size=32),
                         fit=FitConfig(batch_size=8, recalibrate_bn=True))
    rng = np.random.default_rng(0)
    maps = (rng.random((32, 32, 32, 1)) < 0.1).astype("float32")  # sparse, edge-map-like
    classifier, model = FoldModel(config).start(Standardizer(config.front).fit(maps), 0, len(maps))
    model.fit(maps, keras.utils.to_categorical(rng.integers(0, 2, 32), 2), epochs=1, batch_size=8, verbose=0)
    first, last = classifier.batch_norms[0], classifier.batch_norms[-1]
    last_before = _array(last.moving_mean)
    trained = [_array(w) for w in model.trainable_weights]

    recalibrate_batch_norm(classifier, maps, config.fit.batch_size, seed=0)

    plain = keras.ops.convert_to_numpy(classifier.preprocessor.standardize(maps))
    stem = classifier.backbone.layers[:3]  # input, padding and the 7x7 convolution whose output bn_conv1 normalises
    conv1 = keras.ops.convert_to_numpy(stem[2](stem[1](plain)))
    # 4 full batches of 8: the average of the batch means is the mean over all maps, whatever the order
    np.testing.assert_allclose(_array(first.moving_mean), conv1.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
    variance = conv1.var(axis=(0, 1, 2))
    assert np.all(_array(first.moving_variance) <= variance * 1.001)  # per-batch variances average below it
    assert np.all(_array(first.moving_variance) >= variance * 0.5)
    assert not np.allclose(_array(last.moving_mean), last_before)
    assert first.momentum == last.momentum == config.model.bn_momentum
    for weight, value in zip(model.trainable_weights, trained):
        np.testing.assert_array_equal(_array(weight), value)


def test_the_switch_is_a_boolean():
    assert from_dict({"fit": {"recalibrate_bn": True}}).fit.recalibrate_bn
    with pytest.raises(ValueError, match="fit.recalibrate_bn='yes': must be true or false"):
        from_dict({"fit": {"recalibrate_bn": "yes"}})
    assert TrainConfig().fit.recalibrate_bn  # the honest protocol's default
    assert not TrainConfig(RunConfig(protocol="paper")).fit.recalibrate_bn  # the paper's pipeline keeps its statistics


def test_a_capped_recalibration_reads_only_its_batches():
    config = TrainConfig(model=ModelConfig(identity_blocks=0, widths=((4, 4, 8), (8, 8, 16), (8, 8, 16))),
                         front=FrontConfig(spike_size=32, input_size=32), fit=FitConfig(batch_size=8))
    rng = np.random.default_rng(1)
    maps = (rng.random((32, 32, 32, 1)) < 0.1).astype("float32")
    classifier, _ = FoldModel(config).start(Standardizer(config.front).fit(maps), 0, len(maps))
    first = classifier.batch_norms[0]
    recalibrate_batch_norm(classifier, maps, 8, seed=0, max_batches=1)
    capped = _array(first.moving_mean)
    order = np.random.default_rng(0).permutation(32)
    recalibrate_batch_norm(classifier, maps[order[:8]], 8, seed=3)  # that one batch, in any order
    np.testing.assert_allclose(capped, _array(first.moving_mean), rtol=1e-5, atol=1e-6)
