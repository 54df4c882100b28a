"""Dataset loaders: every supported layout becomes one Samples table (see ``LoadedDataset``). The package starts
light (the command line reads its registry of layouts); the readers are imported on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .registry import REGISTRY, layouts_of

if TYPE_CHECKING:
    from .samples import LoadedDataset

_LAZY = {"BadImageError": ".io", "read_image": ".io", "read_manifest": ".c_nmc", "DatasetLayoutError": ".samples",
         "LoadedDataset": ".samples", "build_dataset": ".samples"}

LAYOUTS = {name: REGISTRY[name] for name in layouts_of("images")}  # the layouts of labelled images


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
    from .samples import build_dataset

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


def __getattr__(name):
    """The readers' public names, each imported on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)
