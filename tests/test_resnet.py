"""The paper's ResNet: parameter counts, block structure and Keras-2 weight import."""

import h5py
import keras
import numpy as np
import pytest

from keras_all.models import PAPER_WIDTHS, build_resnet, load_legacy_weights

pytestmark = pytest.mark.portable


@pytest.mark.parametrize("shape, params", [((224, 224, 3), 489_922), ((224, 224, 1), 483_650),
                                           ((100, 100, 1), 463_170), ((100, 100, 3), 469_442)])
def test_parameter_counts_match_the_paper_and_the_released_files(shape, params):
    model = build_resnet(shape)
    assert model.count_params() == params
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers) == 31


def test_block_structure_and_names():
    model = build_resnet((224, 224, 3))
    names = {layer.name for layer in model.layers}
    for stage, blocks in ((2, "abc"), (3, "abc"), (4, "abc")):
        for block in blocks:
            for branch in ("2a", "2b", "2c"):
                assert f"res{stage}{block}_branch{branch}" in names and f"bn{stage}{block}_branch{branch}" in names
        assert f"res{stage}a_branch1" in names  # the convolutional block's projection shortcut
        assert f"res{stage}b_branch1" not in names  # identity blocks add their input
    assert {"conv1", "bn_conv1", "fc"} <= names
    assert model.get_layer("pool1").output.shape[1:] == (55, 55, 64)
    assert model.get_layer("res3a_branch1").strides == (2, 2) and model.get_layer("res2a_branch1").strides == (1, 1)
    assert model.get_layer("res4c_out").output.shape[1:] == (14, 14, 256)
    assert model.get_layer("flatten").output.shape[1:] == (12_544,)
    widths = [model.get_layer(f"res{s}a_branch2{b}").filters for s in (2, 3, 4) for b in "abc"]
    assert widths == [w for triple in PAPER_WIDTHS for w in triple]


def test_widths_are_parameters():
    model = build_resnet((64, 64, 1), widths=((8, 8, 16), (16, 16, 32)), identity_blocks=1)
    assert model.get_layer("res3a_branch2c").filters == 32
    assert "res4a_branch2a" not in {layer.name for layer in model.layers}
    with pytest.raises(ValueError, match="widths="):
        build_resnet((64, 64, 1), widths=((8, 8),))


def _write_keras2_h5(model, path, under_model_weights):
    """Weights in the Keras-2 HDF5 layout: a group per layer, 'weight_names' naming '<layer>/<w>:0' datasets."""
    with h5py.File(path, "w") as handle:
        root = handle.create_group("model_weights") if under_model_weights else handle
        weighted = [layer for layer in model.layers if layer.weights]
        root.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        for layer in weighted:
            group = root.create_group(layer.name)
            names = [f"{layer.name}/{w.name}:0".encode() for w in layer.weights]
            group.attrs["weight_names"] = names
            for name, value in zip(names, layer.get_weights()):
                group.create_dataset(name.decode(), data=value)


@pytest.mark.parametrize("under_model_weights", [False, True])
def test_keras2_weights_load_by_layer_name(tmp_path, under_model_weights):
    keras.utils.set_random_seed(1)
    source = build_resnet((64, 64, 3))
    for layer in source.layers:  # moving statistics too, so that they are checked
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.random.default_rng(0).normal(size=layer.moving_mean.shape))
    _write_keras2_h5(source, tmp_path / "weights.h5", under_model_weights)
    keras.utils.set_random_seed(2)
    target = build_resnet((64, 64, 3))
    loaded = load_legacy_weights(target, tmp_path / "weights.h5")
    assert len(loaded) == sum(1 for layer in source.layers if layer.weights)
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    x = np.random.default_rng(3).normal(size=(2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(target.predict(x, verbose=0), source.predict(x, verbose=0), atol=1e-5)


def test_wrong_architecture_is_named_and_changes_nothing(tmp_path):
    _write_keras2_h5(build_resnet((64, 64, 1)), tmp_path / "one_channel.h5", False)
    target = build_resnet((64, 64, 3))
    before = keras.ops.convert_to_numpy(target.get_layer("fc").kernel).copy()
    with pytest.raises(ValueError, match="layer 'conv1' holds shapes"):
        load_legacy_weights(target, tmp_path / "one_channel.h5")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(target.get_layer("fc").kernel), before)
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5 weights file"):
        load_legacy_weights(target, tmp_path / "junk.h5")
