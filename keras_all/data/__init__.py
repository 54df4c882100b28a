"""Dataset loaders: every supported layout becomes one Samples table (see ``LoadedDataset``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .all_idb import list_all_idb
from .aria import list_aria
from .c_nmc import list_c_nmc, read_manifest
from .folder import list_folder
from .io import BadImageError, read_image
from .samples import DatasetLayoutError, Listing, LoadedDataset, build_dataset


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    lister: Callable[..., Listing]


LAYOUTS = {
    layout.name: layout
    for layout in (
        Layout("all-idb", "ALL-IDB1 and/or ALL-IDB2, detected from the folder", list_all_idb),
        Layout("all-idb1", "ALL-IDB1 slides: im/ImNNN_L.jpg + xyc/ImNNN_L.xyc", lambda r: list_all_idb(r, "all-idb1")),
        Layout("all-idb2", "ALL-IDB2 single-cell crops: img/ImNNN_L.tif", lambda r: list_all_idb(r, "all-idb2")),
        Layout("c-nmc", "C-NMC 2019: .../fold_N/{all,hem}/UID_*.bmp (+ labelled preliminary test)", list_c_nmc),
        Layout("aria", "Aria et al. 2021: Original/{Benign,Early,Pre,Pro}/*.jpg", list_aria),
        Layout("folder", "any <root>/<class>/* tree, positive class named by --positive-class", list_folder),
    )
}


def load_dataset(
    name: str,
    data_dir: str | Path,
    *,
    on_bad_image: str = "error",
    positive_class: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> LoadedDataset:
    """Load the data set at ``data_dir`` as layout ``name``.

    Args:
        name: one of ``LAYOUTS`` (all-idb, all-idb1, all-idb2, c-nmc, aria, folder).
        data_dir: the data set's folder.
        on_bad_image: ``error`` stops at the first unreadable image; ``skip`` leaves bad images out and lists
            them in ``bad_files``.
        positive_class: for ``folder``: the class folder that is ALL.
        progress: called with the number of files read, as reading goes.

    Returns:
        The samples table (one row per unique image) with its duplicates, bad and ignored files.
    """
    if name not in LAYOUTS:
        raise ValueError(f"unknown dataset {name!r}: use one of {', '.join(LAYOUTS)}")
    options = {"positive_class": positive_class} if name == "folder" else {}
    listing = LAYOUTS[name].lister(data_dir, **options)
    return build_dataset(name, str(data_dir), listing, on_bad_image=on_bad_image, progress=progress)


__all__ = [
    "LAYOUTS",
    "BadImageError",
    "DatasetLayoutError",
    "LoadedDataset",
    "load_dataset",
    "read_image",
    "read_manifest",
    "build_dataset",
]
