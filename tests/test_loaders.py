"""Every layout on synthetic trees: labels, subjects, extra columns, duplicates and bad files."""

import shutil

import pandas as pd
import pytest

from keras_all.data import DatasetLayoutError, load_dataset
from keras_all.data.io import BadImageError


def _copy_tree(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_all_idb1_slides_with_mixed_sizes_and_centroids(synthetic_tree):
    data = load_dataset("all-idb1", synthetic_tree("all-idb1", 4))
    samples = data.samples
    assert len(samples) == 4
    assert samples["path"].str.match(r".*/im/Im\d{3}_[01]\.jpg$").all()
    assert set(zip(samples["width"], samples["height"])) == {(2592, 1944), (1712, 1368), (1226, 652)}
    positives = samples[samples["label"] == 1]
    negatives = samples[samples["label"] == 0]
    assert (positives["n_points"] > 0).all()
    assert (negatives["n_points"] == 0).all() and all(p == [] for p in negatives["points"])
    for _, row in positives.iterrows():
        assert all(0 <= x < row["width"] and 0 <= y < row["height"] for x, y in row["points"])
    assert (samples["subject"] == "").all() and (samples["dataset"] == "all-idb1").all()


def test_all_idb1_without_xyc_file_has_no_points(synthetic_tree, tmp_path):
    root = _copy_tree(synthetic_tree("all-idb1", 4), tmp_path / "idb1")
    (root / "xyc" / "Im001_1.xyc").unlink()
    samples = load_dataset("all-idb1", root).samples.set_index("image_id")
    assert samples.loc[1, "points"] is None and pd.isna(samples.loc[1, "n_points"])


def test_malformed_xyc_line_is_named(synthetic_tree, tmp_path):
    root = _copy_tree(synthetic_tree("all-idb1", 4), tmp_path / "idb1")
    (root / "xyc" / "Im001_1.xyc").write_text("10 20\n10 twenty\n")
    with pytest.raises(DatasetLayoutError, match=r"Im001_1\.xyc:2: expected 'x y'"):
        load_dataset("all-idb1", root)


def test_all_idb2_crops(synthetic_tree):
    samples = load_dataset("all-idb2", synthetic_tree("all-idb2", 6)).samples
    assert len(samples) == 6 and samples["label"].sum() == 3
    assert samples["path"].str.match(r".*/img/Im\d{3}_[01]\.tif$").all()
    assert (samples["width"] == 257).all() and (samples["height"] == 257).all()
    assert (samples["class_name"].map({"ALL": 1, "healthy": 0}) == samples["label"]).all()


def test_all_idb_detects_either_part_or_both(synthetic_tree, tmp_path):
    assert set(load_dataset("all-idb", synthetic_tree("all-idb2", 6)).samples["dataset"]) == {"all-idb2"}
    root = tmp_path / "ALL_IDB"
    _copy_tree(synthetic_tree("all-idb1", 4), root / "ALL_IDB1")
    _copy_tree(synthetic_tree("all-idb2", 6), root / "ALL_IDB2")
    samples = load_dataset("all-idb", root).samples
    assert samples["dataset"].value_counts().to_dict() == {"all-idb2": 6, "all-idb1": 4}


def test_all_idb_unexpected_name_is_an_error_not_a_guess(synthetic_tree, tmp_path):
    root = _copy_tree(synthetic_tree("all-idb2", 6), tmp_path / "idb2")
    shutil.copy(root / "img" / "Im001_1.tif", root / "img" / "cell_7.tif")
    with pytest.raises(DatasetLayoutError, match=r"cell_7\.tif: cannot tell its class"):
        load_dataset("all-idb2", root)


def test_c_nmc_training_folds_subjects_and_prelim_test(synthetic_tree):
    samples = load_dataset("c-nmc", synthetic_tree("c-nmc", 27)).samples
    train = samples[samples["official_split"] == "train"]
    prelim = samples[samples["official_split"] == "prelim-test"]
    assert len(train) == 24 and len(prelim) == 3
    assert set(train["fold"]) == {0, 1, 2} and prelim["fold"].isna().all()
    assert (train.groupby("subject")["fold"].nunique() == 1).all()
    assert ((train["subject"].str.startswith("H")) == (train["label"] == 0)).all()
    # the lower-case file name UID_h3_... is read as subject H3
    assert train["path"].str.contains("/UID_h3_").any() and "H3" in set(train["subject"])
    assert not train["subject"].str.contains("h").any()
    assert prelim["original_name"].str.match(r"UID_H?\d+_1_1_(all|hem)\.bmp").all()
    assert (prelim["label"] == prelim["original_name"].str.endswith("_all.bmp")).all()


def test_c_nmc_prelim_without_labels_is_left_out_and_counted(synthetic_tree, tmp_path):
    root = _copy_tree(synthetic_tree("c-nmc", 27), tmp_path / "cnmc")
    next(root.rglob("*_labels.csv")).unlink()
    data = load_dataset("c-nmc", root)
    assert set(data.samples["official_split"]) == {"train"}
    assert (data.ignored["reason"] == "preliminary test without its labels CSV").sum() == 3


def test_c_nmc_cell_in_the_wrong_class_folder_is_an_error(synthetic_tree, tmp_path):
    root = _copy_tree(synthetic_tree("c-nmc", 27), tmp_path / "cnmc")
    hem = next(root.rglob("hem/*.bmp"))
    shutil.move(hem, hem.parent.parent / "all" / hem.name)
    with pytest.raises(DatasetLayoutError, match="'hem' cell in a 'all' folder"):
        load_dataset("c-nmc", root)


def test_c_nmc_tcia_layout(synthetic_tree, tmp_path):
    src = synthetic_tree("c-nmc", 27) / "C-NMC_Leukemia" / "training_data"
    root = _copy_tree(src, tmp_path / "tcia" / "C-NMC_training_data")
    samples = load_dataset("c-nmc", root.parent).samples
    assert len(samples) == 24 and set(samples["fold"]) == {0, 1, 2}


def test_aria_subtypes(synthetic_tree):
    samples = load_dataset("aria", synthetic_tree("aria", 16)).samples
    assert set(samples["class_name"]) == {"Benign", "Early", "Pre", "Pro"}
    assert ((samples["class_name"] == "Benign") == (samples["label"] == 0)).all()
    assert (samples["width"] == 224).all()
    names = r".*/Original/(Benign/WBC-Benign|(Early|Pre|Pro)/WBC-Malignant-\w+)-\d{3}\.jpg"
    assert samples["path"].str.match(names).all()


def test_folder_layout_needs_a_positive_class(synthetic_tree, tmp_path):
    original = synthetic_tree("aria", 16) / "Original"
    root = tmp_path / "mine"
    _copy_tree(original / "Benign", root / "normal")
    _copy_tree(original / "Pro", root / "blast")
    with pytest.raises(DatasetLayoutError, match="pass --positive-class one of blast, normal"):
        load_dataset("folder", root)
    samples = load_dataset("folder", root, positive_class="blast").samples
    assert ((samples["class_name"] == "blast") == (samples["label"] == 1)).all()
    assert samples["label"].sum() == len(list((root / "blast").iterdir()))


def test_missing_folder_and_wrong_layout_are_clear(tmp_path):
    with pytest.raises(DatasetLayoutError, match="no such folder"):
        load_dataset("c-nmc", tmp_path / "nowhere")
    with pytest.raises(DatasetLayoutError, match="no C-NMC images found"):
        load_dataset("c-nmc", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'idb'"):
        load_dataset("idb", tmp_path)


def test_duplicates_are_kept_once_and_join_their_subjects(synthetic_tree, tmp_path):
    root = _copy_tree(synthetic_tree("c-nmc", 27), tmp_path / "cnmc")
    train = root / "C-NMC_Leukemia" / "training_data"
    source = sorted(train.rglob("fold_0/all/UID_1_*.bmp"))[0]
    other = sorted(p for p in train.rglob("all/*.bmp") if not p.name.startswith("UID_1_"))[0]
    copy = other.parent / other.name.replace("_1_1_all", "_9_9_all")
    shutil.copy(source, copy)
    data = load_dataset("c-nmc", root)
    assert len(data.samples) == 27 and data.duplicate_groups == 1
    dup = data.duplicates.iloc[0]
    assert {dup["kept"], dup["dropped"]} == {str(source), str(copy)}
    joined = data.samples.loc[data.samples["subject"].isin(["1", dup["dropped_subject"]]), "subject_group"]
    assert set(joined) == {"+".join(sorted(["1", dup["dropped_subject"]]))}


def test_duplicates_with_conflicting_labels_are_all_dropped(synthetic_tree, tmp_path):
    original = synthetic_tree("aria", 16) / "Original"
    root = tmp_path / "mine"
    _copy_tree(original / "Benign", root / "normal")
    _copy_tree(original / "Pro", root / "blast")
    first = sorted((root / "normal").iterdir())[0]
    shutil.copy(first, root / "blast" / "copied.jpg")
    data = load_dataset("folder", root, positive_class="blast")
    assert str(first) not in set(data.samples["path"]) and str(root / "blast" / "copied.jpg") not in set(
        data.samples["path"]
    )
    assert (data.duplicates["kept_label"] != data.duplicates["dropped_label"]).all()


BAD_FILES = {
    "empty": lambda p: p.write_bytes(b""),
    "not an image": lambda p: p.write_text("patient notes, not pixels"),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_image_stops_the_load_naming_the_file(synthetic_tree, tmp_path, kind):
    root = _copy_tree(synthetic_tree("aria", 16), tmp_path / "aria")
    victim = sorted((root / "Original" / "Pre").iterdir())[0]
    BAD_FILES[kind](victim)
    with pytest.raises(BadImageError) as info:
        load_dataset("aria", root)
    assert str(victim) in str(info.value)


def test_skip_lists_and_counts_every_bad_file(synthetic_tree, tmp_path):
    root = _copy_tree(synthetic_tree("aria", 16), tmp_path / "aria")
    victims = sorted((root / "Original" / "Pre").iterdir())[: len(BAD_FILES)]
    for spoil, victim in zip(BAD_FILES.values(), victims):
        spoil(victim)
    data = load_dataset("aria", root, on_bad_image="skip")
    assert sorted(data.bad_files["path"]) == sorted(map(str, victims))
    assert len(data.samples) == 16 - len(victims)
    assert not set(data.samples["path"]) & set(map(str, victims))


def test_subjects_sharing_images_join_transitively():
    from keras_all.data.samples import _subject_groups

    pairs = pd.DataFrame({"kept_subject": ["a", "b", "d", "x", ""], "dropped_subject": ["b", "c", "e", "x", "f"]})
    groups = _subject_groups(pairs)
    assert groups == {"a": "a+b+c", "b": "a+b+c", "c": "a+b+c", "d": "d+e", "e": "d+e"}
    assert _subject_groups(pairs.iloc[3:]) == {}  # a subject duplicated within itself, or unknown, joins nothing
