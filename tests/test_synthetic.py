"""Synthetic trees: real names, sizes and formats; seeded; classes differ in morphology, not colour."""

import cv2
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score

from keras_all.data.io import read_image
from keras_all.data.synthetic import write_dataset


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    first = write_dataset("all-idb2", tmp_path / "a", 4, seed=7)
    again = write_dataset("all-idb2", tmp_path / "b", 4, seed=7)
    other = write_dataset("all-idb2", tmp_path / "c", 4, seed=8)
    read = [[open(p, "rb").read() for p in frame["path"]] for frame in (first, again, other)]
    assert read[0] == read[1]
    assert all(x != y for x, y in zip(read[0], read[2]))


def test_c_nmc_cells_sit_on_black_450_square_bitmaps(synthetic_tree):
    for path in sorted(synthetic_tree("c-nmc", 27).rglob("*.bmp"))[:6]:
        assert path.read_bytes()[:2] == b"BM"
        image = read_image(path)
        assert image.shape == (450, 450, 3)
        assert image[:20, :20].mean() < 15 and image[200:250, 200:250].mean() > 40


def test_unknown_layout_and_too_few_images_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown synthetic layout 'kaggle'"):
        write_dataset("kaggle", tmp_path, 4)
    with pytest.raises(ValueError, match="n=1"):
        write_dataset("aria", tmp_path, 1)


@pytest.fixture(scope="module")
def cells(synthetic_tree):
    """64 C-NMC training cells of 16 subjects: images, labels and subjects."""
    root = synthetic_tree("c-nmc", 72, seed=3)
    paths = sorted((root / "C-NMC_Leukemia" / "training_data").rglob("*.bmp"))
    labels = np.array([int(p.parent.name == "all") for p in paths])
    subjects = np.array([p.name.split("_")[1].upper() for p in paths])
    return [read_image(p) for p in paths], labels, subjects


def _nuclear_fraction(image):
    """Share of the cell's area taken by the nucleus (the darker Otsu class inside the cell)."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    cell = gray > 20
    threshold, _ = cv2.threshold(gray[cell].reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return ((gray <= threshold) & cell).sum() / cell.sum()


def test_blasts_have_a_larger_nucleus_to_cell_ratio(cells):
    images, labels, _ = cells
    fraction = np.array([_nuclear_fraction(image) for image in images])
    assert fraction[labels == 1].min() > fraction[labels == 0].max()


def _hsv_histogram(image, bins=16):
    """The 48-bin HSV colour histogram of the design's colour baseline (16 bins a channel)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    return np.concatenate([np.histogram(hsv[..., c], bins, (0, 180 if c == 0 else 256))[0] for c in range(3)])


def test_colour_histogram_does_not_separate_the_classes(cells):
    images, labels, subjects = cells
    features = np.array([_hsv_histogram(image) for image in images], float) / images[0][..., 0].size
    model = LogisticRegression(max_iter=2000)
    scores = cross_val_score(model, features, labels, groups=subjects, cv=GroupKFold(4))
    assert scores.mean() < 0.75
