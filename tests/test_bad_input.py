"""Bad input met by the library: huge, corrupt, tiny and badly named images, links, nested files,
misnamed cells, bad configuration values, cut-short run files and the authors' released weights."""

import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

from keras_all.authors import identify, import_weights
from keras_all.config import from_dict, load_config
from keras_all.data import DatasetLayoutError, load_dataset
from keras_all.data.io import BadImageError, on_disk, printable, read_image
from keras_all.models import build_resnet, load_legacy_weights, load_model_file
from keras_all.models.legacy_weights import read_legacy_weights
from keras_all.run_folder import INCOMPLETE, RunFolder, read_json
from keras_all.training.splits import assign_splits

from .authors_h5 import write_authors_h5

pytestmark = pytest.mark.portable


def huge_png(width=40000, height=30000) -> bytes:
    """A valid 1-bit gray PNG of width x height (over OpenCV's 2^30-pixel limit), a few hundred kB."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer, row = zlib.compressobj(9), bytes(1 + (width + 7) // 8)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def cut_jpeg() -> bytes:
    """A JPEG cut in half whose end-of-image marker was put back."""
    pixels = np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    encoded = cv2.imencode(".jpg", pixels)[1].tobytes()
    return encoded[: len(encoded) // 2] + b"\xff\xd9"


def test_a_valid_but_huge_image_is_a_bad_file(tmp_path):
    (tmp_path / "huge.png").write_bytes(huge_png())
    with pytest.raises(BadImageError, match=r"huge\.png: is too large to decode \(over 2\^30 pixels\)"):
        read_image(tmp_path / "huge.png")
    small = huge_png(40, 30)  # the same writer, a size OpenCV takes: the file itself is sound
    (tmp_path / "small.png").write_bytes(small)
    assert read_image(tmp_path / "small.png").shape == (30, 40, 3)


def test_a_jpeg_cut_short_with_its_end_marker_put_back_is_corrupt(tmp_path):
    (tmp_path / "cut.jpg").write_bytes(cut_jpeg())
    with pytest.raises(BadImageError, match="cut.jpg: is a corrupt JPEG .*premature end of data segment"):
        read_image(tmp_path / "cut.jpg")


def test_real_jpegs_pass_the_corruption_check(shared_path):
    files = sorted(shared_path("aria-all/Original/Benign").glob("*.jpg"))[:40]
    assert len(files) == 40 and all(read_image(p).shape == (224, 224, 3) for p in files)


def test_tiny_images_are_refused(tmp_path):
    cv2.imwrite(str(tmp_path / "dot.png"), np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(BadImageError, match=r"dot\.png: is 1x1 pixels; images need at least 16 on each side"):
        read_image(tmp_path / "dot.png")


def test_a_name_that_is_not_utf8_is_read_by_its_printable_name_too(tmp_path):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.full((20, 20, 3), 7, np.uint8))
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9.png")
    shutil.copy(good, odd)
    shown = printable(odd)
    assert shown == f"{tmp_path}/caf\\xe9.png" and shown.encode("utf-8")  # written and printed as it is
    assert on_disk(shown) == Path(odd) and on_disk(good) == good
    assert (read_image(odd) == 7).all() and (read_image(shown) == 7).all()
    (tmp_path / "caf\\xe9.png").write_bytes(good.read_bytes())  # a name that really holds a backslash wins
    assert on_disk(shown) == Path(shown)
    with pytest.raises(BadImageError, match=r"caf\\x00\.png: cannot be read"):  # no such file: named as given
        read_image(tmp_path / "caf\\x00.png")


def _folder_set(root, n=6):
    for cls in ("blast", "normal"):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            value = 60 if cls == "blast" else 200
            cv2.imwrite(str(root / cls / f"{i}.png"), np.full((24, 24, 3), value + i, np.uint8))
    return root


def test_huge_corrupt_and_tiny_images_are_skipped_and_counted(tmp_path):
    root = _folder_set(tmp_path / "set")
    (root / "blast" / "huge.png").write_bytes(huge_png())
    (root / "blast" / "cut.jpg").write_bytes(cut_jpeg())
    cv2.imwrite(str(root / "normal" / "dot.png"), np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(BadImageError, match="cut.jpg"):
        load_dataset("folder", root, positive_class="blast")
    data = load_dataset("folder", root, positive_class="blast", on_bad_image="skip")
    assert len(data.samples) == 12
    assert sorted(os.path.basename(p) for p in data.bad_files["path"]) == ["cut.jpg", "dot.png", "huge.png"]


def test_links_that_lead_nowhere_and_nested_images_are_listed(tmp_path):
    root = _folder_set(tmp_path / "set")
    (root / "blast" / "dangling.png").symlink_to(tmp_path / "gone.png")
    (root / "blast" / "loop.png").symlink_to(root / "blast" / "loop.png")
    (root / "normal" / "patient7").mkdir()
    shutil.copy(root / "normal" / "0.png", root / "normal" / "patient7" / "deep.png")
    data = load_dataset("folder", root, positive_class="blast")
    reasons = {os.path.basename(p): r for p, r in zip(data.ignored["path"], data.ignored["reason"])}
    assert reasons == {"dangling.png": "a link to a file that does not exist", "loop.png": "a symbolic-link loop",
                       "deep.png": "in a subfolder of normal/; only files directly in it are read"}
    assert len(data.samples) == 12


def test_c_nmc_folder_links_are_followed_once_and_broken_links_listed(synthetic_tree, tmp_path):
    root = tmp_path / "cnmc"
    shutil.copytree(synthetic_tree("c-nmc", 27), root)
    fold = next(root.rglob("fold_0"))
    (fold / "back").symlink_to(root)  # a link back up the tree
    (fold / "all" / "gone.bmp").symlink_to(tmp_path / "nothing.bmp")
    data = load_dataset("c-nmc", root)
    assert len(data.samples) == 27
    assert set(data.ignored["reason"]) >= {"a folder link to a folder already read (a link loop)",
                                           "a link to a file that does not exist"}


def test_a_misnamed_c_nmc_cell_is_a_bad_file_named_with_its_folder(synthetic_tree, tmp_path):
    root = tmp_path / "cnmc"
    shutil.copytree(synthetic_tree("c-nmc", 27), root)
    cell = next(root.rglob("all/UID_*_all.bmp"))
    copy = cell.with_name(cell.stem + " copy.bmp")
    shutil.copy(cell, copy)
    with pytest.raises(DatasetLayoutError) as info:
        load_dataset("c-nmc", root)
    assert str(info.value).startswith(f"{copy}: not a C-NMC cell name") and "--on-bad-image skip" in str(info.value)
    data = load_dataset("c-nmc", root, on_bad_image="skip")
    assert data.bad_files["path"].tolist() == [str(copy)] and len(data.samples) == 27


def test_when_every_image_is_bad_the_error_says_none_is_left(tmp_path):
    for cls in ("blast", "normal"):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "x.png").write_bytes(b"not a png")
    with pytest.raises(DatasetLayoutError, match="no readable image is left: all 2 listed files are bad"):
        load_dataset("folder", tmp_path, positive_class="blast", on_bad_image="skip")


@pytest.mark.parametrize("values, message", [
    ({"fit": {"batch_size": True}}, "fit.batch_size=True: must be an integer of at least 1"),
    ({"front": 5}, "preset.yaml: front=5: give a mapping of front settings"),
    ({"model": {"widths": 3}}, "model.widths=3: give one [f1, f2, f3] list"),
    ({"model": {"widths": [[4, 4]]}}, "model.widths=[[4, 4]]: give one [f1, f2, f3] list"),
    ({"run": {"seed": -1}}, "run.seed=-1: must be an integer in [0, 4294967295]"),
    ({"fit": {"learning_rate": -1}}, "fit.learning_rate=-1: must be a number in (0, 1]"),
    ({"run": {"test_fraction": "a"}}, "run.test_fraction='a': must be a number in (0, 0.5)"),
    ({"front": {"blur_size": 4}}, "front.blur_size=4: must be an odd integer"),
    ({"front": {"channels": True}}, "front.channels=True: the ResNet takes 1 or 3 channels"),
    ({"run": {"name": "../up"}}, "run.name='../up': use letters, digits"),
    ({"epochs": 3}, "preset.yaml: epochs belongs in fit; write fit: {epochs: ...}"),
    ({"fit": {"widths": [[4, 4, 8]]}}, "preset.yaml: fit.widths belongs in model; write model: {widths: ...}"),
    ({"fit": {"epoch": 3}}, "preset.yaml: unknown key fit.epoch; fit takes augment, balance, batch_size"),
    ({"slides": {"size": 3}}, "preset.yaml: unknown key slides; a configuration holds the groups run, model, front, "
                              "fit, cells"),
    ({"cells": {"size": 3}}, "preset.yaml: unknown key cells.size; cells takes bags, controls, pixels, show, side, "
                             "top_share"),
])
def test_configuration_values_are_checked_with_one_line(values, message):
    with pytest.raises(ValueError) as info:
        from_dict(values, "preset.yaml")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_folder_holding_only_the_incomplete_marker_is_taken_over(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / INCOMPLETE).write_text("stopped before its first fold\n")
    assert RunFolder(run).open(resume=False).incomplete
    (run / "config.yaml").write_text("name: x\n")
    with pytest.raises(ValueError, match="pass --resume"):
        RunFolder(run).open(resume=False)


def test_two_folds_is_never_told_to_use_fewer_folds(synthetic_tree):
    samples = load_dataset("c-nmc", synthetic_tree("c-nmc", 27)).samples
    few = samples[samples["subject"].isin(["1", "2", "3", "4", "H1", "H2", "H3", "H4"])]
    with pytest.raises(ValueError) as info:
        assign_splits(few, folds=2, test_fraction=0.45, seed=0)
    assert "add subjects" in str(info.value) and "fewer folds" not in str(info.value)
    with pytest.raises(ValueError, match="or use fewer folds"):
        assign_splits(samples, folds=3, test_fraction=0.45, seed=0)


def test_cut_short_run_files_and_non_models_are_named(tmp_path):
    (tmp_path / "metrics.json").write_text('{"protocol": "hon')
    with pytest.raises(ValueError, match=r"metrics\.json: not readable JSON .*cut short or edited"):
        read_json(tmp_path / "metrics.json")
    (tmp_path / "model.keras").write_text("a text file")
    with pytest.raises(ValueError, match=r"model\.keras: not a Keras model file"):
        load_model_file(tmp_path / "model.keras")


@pytest.mark.parametrize("size, channels, params", [(100, 3, 469_442), (224, 3, 489_922), (100, 1, 463_170)])
def test_the_authors_released_layout_loads(tmp_path, size, channels, params):
    source = write_authors_h5(tmp_path / "model.h5", size, channels)
    release, found_channels = identify(tmp_path / "model.h5", read_legacy_weights(tmp_path / "model.h5"))
    assert (release.size, found_channels) == (size, channels)
    target = build_resnet((size, size, channels))
    assert target.count_params() == params
    assert len(load_legacy_weights(target, tmp_path / "model.h5")) == 63  # 31 convolutions, 31 batch norms, fc
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


@pytest.mark.slow_under_jax
def test_importing_the_authors_weights_gives_a_raw_image_model(tmp_path, synthetic_tree):
    source = write_authors_h5(tmp_path / "model.h5", 100)
    data = load_dataset("c-nmc", synthetic_tree("c-nmc", 27))
    with pytest.warns(UserWarning, match="500 components asked for, but 27 training images .* using 26"):
        out = import_weights(tmp_path / "model.h5", tmp_path / "authors", data, echo=lambda _: None)
    assert {p.name for p in out.iterdir()} == {"resnet.keras", "model.keras", "config.yaml", "MODEL_CARD.md"}
    resnet = load_model_file(out / "resnet.keras")
    maps = np.random.default_rng(1).normal(size=(2, 100, 100, 3)).astype("float32")
    np.testing.assert_allclose(resnet.predict(maps, verbose=0), source.predict(maps, verbose=0), atol=1e-5)
    images = np.stack([read_image(path) for path in data.samples["path"].iloc[:3]])
    classifier = load_model_file(out / "model.keras")
    probabilities = classifier.predict(images, verbose=0)
    assert probabilities.shape == (3, 2) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    # raw images in: the fitted front's maps through the authors' own network, probability for probability
    maps = keras.ops.convert_to_numpy(classifier.preprocessor(images))
    np.testing.assert_allclose(probabilities, source.predict(maps, verbose=0), atol=1e-5)
    assert np.abs(maps[0] - maps[1]).max() > 0.1  # each image's own maps, not one constant input
    card = (out / "MODEL_CARD.md").read_text()
    for text in ("first_spike", "9x9 Gaussian blur", "500 components", "did not release them",
                 "(26 components) were fitted on 27 images", "Not a diagnostic device"):
        assert text in card
    with pytest.raises(ValueError, match="folder exists and is not empty"):
        import_weights(tmp_path / "model.h5", out)


def test_a_file_that_is_not_an_authors_release_is_named(tmp_path):
    model = build_resnet((64, 64, 3))
    write_authors_h5(tmp_path / "other.h5", 100)
    with pytest.raises(ValueError, match="layer 'fc' holds shapes"):
        load_legacy_weights(model, tmp_path / "other.h5")
    default = load_config(None)  # the honest preset, valid as it stands
    assert (default.run.name, default.run.protocol, default.front.mode) == ("run", "honest", "rgb_first_spike")


_SWALLOWED = """
import gc, os, signal, sys
from pathlib import Path
from keras_all import interruption
from keras_all.whole_folder import written_whole

signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a shell (a pytest-xdist worker ignores SIGINT)
interruption.catch()

def interrupt(phase, info):  # Ctrl-C arriving inside a garbage-collector callback, as inside JAX's
    gc.callbacks.remove(interrupt)
    os.kill(os.getpid(), signal.SIGINT)
    sum(range(100))  # Python raises KeyboardInterrupt here, prints "Exception ignored" and goes on

try:
    with written_whole(Path(sys.argv[1])) as partial:
        (partial / "half.txt").write_text("half")
        gc.callbacks.append(interrupt)
        gc.collect()
        print("went on")
except KeyboardInterrupt:
    print("interrupted")
"""


def test_a_ctrl_c_that_python_swallows_still_stops_a_folder_written_whole(tmp_path):
    ran = subprocess.run([sys.executable, "-c", _SWALLOWED, str(tmp_path / "out")], capture_output=True, text=True,
                         timeout=300)
    assert "Exception ignored" in ran.stderr and "KeyboardInterrupt" in ran.stderr, ran.stderr
    assert ran.stdout.split() == ["went", "on", "interrupted"]  # swallowed there, caught before the folder is made
    assert os.listdir(tmp_path) == []
