"""The Samples table: one row per unique image, with hashes, sizes, duplicates and bad files."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .io import BadImageError, decode_image, printable, read_bytes, remember, sha256_of

BASE_COLUMNS = ["path", "label", "class_name", "subject", "dataset"]
ON_BAD_IMAGE = ("error", "skip")


class DatasetLayoutError(ValueError):
    """A dataset folder that does not hold the layout it was loaded as."""


@dataclass
class Listing:
    """What a layout found on disk, before any image is read."""

    rows: pd.DataFrame
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (path, why it carries no label)
    bad: list[tuple[str, str]] = field(default_factory=list)  # (path, why): in the layout, but misnamed


@dataclass
class LoadedDataset:
    """A dataset as the package uses it: unique, readable, labelled images and what was left out."""

    name: str
    root: str
    samples: pd.DataFrame
    duplicates: pd.DataFrame  # one row per dropped copy: sha256, kept, dropped, their subjects and labels
    bad_files: pd.DataFrame  # path, reason (only with on_bad_image="skip")
    ignored: pd.DataFrame  # path, reason: files that carry no label (e.g. an unlabelled test folder)
    subsample_of: dict | None = None  # images per label before ``subsample``, with its settings
    cells_of: dict | None = None  # for a data set of white cells: the fields they were found on and how

    @property
    def duplicate_groups(self) -> int:
        return self.duplicates["sha256"].nunique()

    def relabelled(self, label_map: dict[str, int | None]) -> LoadedDataset:
        """The set with each class (``class_name``) given the label ``label_map`` names: 1 (ALL), 0 (healthy) or
        None (left out). Every class of the set must be named; one line names those that are not."""
        classes = sorted(self.samples["class_name"].unique())
        missing = [name for name in classes if name not in label_map]
        if missing:
            raise ValueError(f"--label-map: the classes {', '.join(missing)} of {self.root} are not mapped; map each "
                             f"of {', '.join(classes)} to 1 (ALL), 0 (healthy) or - (left out)")
        unknown = sorted(set(label_map) - set(classes))
        if unknown:
            raise ValueError(f"--label-map: {', '.join(unknown)}: no such class in {self.root}; its classes are "
                             f"{', '.join(classes)}")
        labels = self.samples["class_name"].map(label_map)
        kept = labels.notna()
        if not kept.any():
            raise ValueError(f"--label-map: every class of {self.root} is left out; map at least one to 1 or 0")
        samples = self.samples[kept].assign(label=labels[kept].astype(int)).reset_index(drop=True)
        return dataclasses.replace(self, samples=samples)

    def subsample(self, max_per_class: int, seed: int, whole: str | None = None) -> LoadedDataset:
        """At most ``max_per_class`` images of each label, drawn without replacement with ``seed`` (a class with
        fewer keeps all of them); the table keeps its order. With ``whole`` (a column: a cell's ``field``), groups
        are drawn whole, in a random order, each kept while no label goes past ``max_per_class``."""
        rng = np.random.default_rng(seed)
        if whole is None:
            keep = np.concatenate([rng.choice(index, min(max_per_class, len(index)), replace=False)
                                   for index in self.samples.groupby("label").indices.values()])
        else:
            keep = _whole_groups(self.samples, whole, max_per_class, rng)
        before = {str(k): int(v) for k, v in self.samples["label"].value_counts().sort_index().items()}
        return dataclasses.replace(self, samples=self.samples.iloc[np.sort(keep)].reset_index(drop=True),
                                   subsample_of={"max_per_class": max_per_class, "seed": seed, "per_label": before})


def _whole_groups(samples: pd.DataFrame, column: str, most: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of whole groups of ``samples[column]``, drawn in a random order while no label goes past ``most``."""
    groups = samples.groupby(column, sort=True)
    per_group = groups["label"].value_counts().unstack(fill_value=0)
    taken = pd.Series(0, index=per_group.columns)
    kept = []
    for name in per_group.index[rng.permutation(len(per_group))]:
        if (taken + per_group.loc[name] <= most).all():
            taken += per_group.loc[name]
            kept.append(groups.indices[name])
    return np.concatenate(kept) if kept else np.zeros(0, int)


def build_dataset(
    name: str,
    root: str,
    listing: Listing,
    *,
    on_bad_image: str = "error",
    read_images: bool = True,
    progress: Callable[[int], None] | None = None,
) -> LoadedDataset:
    """Hash and decode every listed file, then drop byte-identical copies.

    With ``read_images=False`` the listing must already carry ``sha256`` (e.g. parsed from a manifest);
    no file is opened and ``height``/``width`` are left empty.
    """
    if on_bad_image not in ON_BAD_IMAGE:
        raise ValueError(f"on_bad_image={on_bad_image!r}: use one of {', '.join(ON_BAD_IMAGE)}")
    if listing.bad and on_bad_image == "error":
        path, reason = listing.bad[0]
        raise DatasetLayoutError(f"{printable(path)}: {reason}; rename or remove the file, or pass "
                                 "--on-bad-image skip to leave it out")
    rows = listing.rows.sort_values("path", kind="stable").reset_index(drop=True)
    if rows.empty and not listing.bad:
        raise DatasetLayoutError(f"{root}: no labelled images found for dataset {name!r}")
    bad = pd.DataFrame(columns=["path", "reason"])
    if read_images:
        if not rows.empty:
            rows, bad = _read_all(rows, on_bad_image, progress)
    elif "sha256" not in rows:
        raise ValueError("a listing built without reading images must carry a sha256 column")
    listed = listing.bad + list(bad.itertuples(index=False, name=None))
    bad = pd.DataFrame([(printable(path), reason) for path, reason in listed], columns=["path", "reason"])
    if rows.empty:
        raise DatasetLayoutError(f"{root}: no readable image is left: all {len(bad)} listed files are bad "
                                 f"(the first: {printable(bad['path'].iloc[0])}: {bad['reason'].iloc[0]})")
    samples, duplicates = deduplicate(rows)
    ignored = pd.DataFrame([(printable(path), reason) for path, reason in listing.ignored], columns=["path", "reason"])
    return LoadedDataset(name, str(root), samples, duplicates, bad, ignored)


def _read_all(rows, on_bad_image, progress):
    def probe(path):
        try:
            data = read_bytes(path)
            height, width = remember(path, decode_image(data, path)).shape[:2]
            return sha256_of(data), height, width, None
        except BadImageError as err:
            if on_bad_image == "error":
                raise
            return None, None, None, err.reason

    results = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for result in pool.map(probe, rows["path"]):
            results.append(result)
            if progress:
                progress(1)
    probed = pd.DataFrame(results, columns=["sha256", "height", "width", "reason"], index=rows.index)
    is_bad = probed["reason"].notna()
    bad = pd.DataFrame({"path": rows.loc[is_bad, "path"], "reason": probed.loc[is_bad, "reason"]})
    good = rows.loc[~is_bad].join(probed.loc[~is_bad, ["sha256", "height", "width"]])
    good = good.astype({"height": "int64", "width": "int64"})
    return good.reset_index(drop=True), bad.reset_index(drop=True)


def deduplicate(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the first (by path) of each group of byte-identical files.

    Returns the kept rows, with a ``subject_group`` column that joins subjects sharing an identical
    image (such subjects must land on the same side of every split), and one row per dropped copy.
    A group whose copies carry different labels cannot be trusted: every copy is dropped.
    """
    rows = rows.sort_values("path", kind="stable").reset_index(drop=True)
    first = rows.groupby("sha256", sort=False)["path"].transform("first")
    labels_per_hash = rows.groupby("sha256")["label"].nunique()
    conflicting = rows["sha256"].map(labels_per_hash) > 1
    kept_rows = rows.drop_duplicates("sha256", keep="first").set_index("sha256")
    copies = rows[rows["path"] != first]
    duplicates = pd.DataFrame(
        {
            "sha256": copies["sha256"],
            "kept": first[copies.index],
            "dropped": copies["path"],
            "kept_subject": copies["sha256"].map(kept_rows["subject"]),
            "dropped_subject": copies["subject"],
            "kept_label": copies["sha256"].map(kept_rows["label"]),
            "dropped_label": copies["label"],
        }
    ).reset_index(drop=True)
    samples = rows[(rows["path"] == first) & ~conflicting].copy()
    groups = _subject_groups(duplicates)
    samples["subject_group"] = [groups.get(s, s) for s in samples["subject"]]
    return samples.reset_index(drop=True), duplicates


def _subject_groups(duplicates: pd.DataFrame) -> dict[str, str]:
    """Subjects joined by byte-identical images (the connected components of the "shares an image" graph),
    each named by its sorted members; a subject in no such pair is left out."""
    pairs = [(a, b) for a, b in zip(duplicates["kept_subject"], duplicates["dropped_subject"]) if a and b and a != b]
    if not pairs:
        return {}
    subjects = sorted({s for pair in pairs for s in pair})
    index = {s: i for i, s in enumerate(subjects)}
    rows, cols = zip(*((index[a], index[b]) for a, b in pairs))
    graph = coo_matrix((np.ones(len(pairs)), (rows, cols)), shape=(len(subjects), len(subjects)))
    _, component = connected_components(graph, directed=False)
    members: dict[int, list[str]] = {}
    for subject, k in zip(subjects, component):
        members.setdefault(int(k), []).append(subject)
    return {s: "+".join(group) for group in members.values() for s in group}
