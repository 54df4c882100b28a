"""The loaders on the real images in ../shared/data (skipped with a reason where it is absent)."""

from keras_all.data import build_dataset, load_dataset, read_manifest


def test_c_nmc_sample(shared_path):
    data = load_dataset("c-nmc", shared_path("cnmc-sample"))
    samples = data.samples
    assert len(samples) == 52
    assert samples["label"].value_counts().to_dict() == {1: 26, 0: 26}
    assert samples["subject"].nunique() == 26
    assert samples.groupby("label")["subject"].nunique().to_dict() == {0: 13, 1: 13}
    assert "H3" in set(samples["subject"])  # written UID_h3_... on disk
    assert (samples["width"] == 450).all() and (samples["height"] == 450).all()
    assert (samples.groupby("subject")["fold"].nunique() == 1).all()
    assert data.duplicate_groups == 0 and data.bad_files.empty


def test_c_nmc_manifest_as_a_listing(shared_path):
    listing = read_manifest(shared_path("cnmc-sample/MANIFEST.tsv"))
    train = listing.rows[listing.rows["official_split"] == "train"]
    assert len(train) == 10_661
    assert train["label"].value_counts().to_dict() == {1: 7_272, 0: 3_389}
    assert train["subject"].nunique() == 73
    assert (train.groupby("subject")["fold"].nunique() == 1).all()
    reasons = dict(listing.ignored).values()
    assert sum(r == "final test (no public labels)" for r in reasons) == 2_586

    data = build_dataset("c-nmc", "manifest", listing, read_images=False)
    assert data.duplicate_groups == 104
    pairs = data.duplicates[["kept_subject", "dropped_subject"]].apply(frozenset, axis=1)
    assert pairs.value_counts().idxmax() == frozenset({"20", "21"})
    assert "20+21" in set(data.samples["subject_group"])
    assert len(data.samples) == 10_661 - 104


def test_aria_set(shared_path):
    data = load_dataset("aria", shared_path("aria-all"))
    listed = len(data.samples) + len(data.duplicates)
    assert listed == 2_296
    assert (data.samples["label"] == 0).sum() == 367
    assert data.samples["class_name"].value_counts().to_dict().keys() == {"Benign", "Early", "Pre", "Pro"}
    assert data.duplicate_groups == len(data.duplicates) == 29  # byte-identical pairs, each kept once
    assert set(data.samples.loc[data.samples["path"].isin(data.duplicates["kept"]), "class_name"]) == {"Pro"}
