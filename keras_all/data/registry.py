"""Every data-set layout keras-all reads, in one registry, with what kind of data each holds; the command line builds
its one ``--dataset`` option from it, each command taking the kinds it can read. This module imports nothing heavy:
a layout's reader is imported when a set is read.

Kinds: ``images``, labelled images a model learns from or is scored on (whole fields or single cells);
``cells``, images that are single cells already; ``marked``, fields with marked cells (boxes, or centroids);
``normal``, fields of normal blood (every one healthy); ``synthetic``, a layout `keras-all synth` can imitate.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

KINDS = ("images", "cells", "marked", "normal", "synthetic")


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    kinds: frozenset[str]
    lists: str = ""  # "module:function" listing labelled images (a Listing), for the images kind
    marks: str = ""  # "module:function" reading marked fields (a FieldSet), for the marked kind

    @property
    def lister(self):
        """The function listing the layout's labelled images: ``lister(root, **options)`` -> Listing."""
        return _resolved(self.lists)

    @property
    def reader(self):
        """The function reading the layout's fields with their marked cells: ``reader(root)`` -> FieldSet."""
        return _resolved(self.marks)


def _resolved(reference: str):
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def _kinds(*names: str) -> frozenset[str]:
    return frozenset(names)


_ALL_IDB = "keras_all.data.all_idb:"
REGISTRY = {
    layout.name: layout
    for layout in (
        Layout("all-idb", "ALL-IDB1 and/or ALL-IDB2, detected from the folder", _kinds("images"),
               _ALL_IDB + "list_all_idb"),
        Layout("all-idb1", "ALL-IDB1 slides: im/ImNNN_L.jpg + xyc/ImNNN_L.xyc (blast centroids)",
               _kinds("images", "marked", "synthetic"), _ALL_IDB + "list_all_idb1",
               "keras_all.data.fields:read_all_idb1"),
        Layout("all-idb2", "ALL-IDB2 single-cell crops: img/ImNNN_L.tif", _kinds("images", "cells", "synthetic"),
               _ALL_IDB + "list_all_idb2"),
        Layout("c-nmc", "C-NMC 2019: .../fold_N/{all,hem}/UID_*.bmp (+ labelled preliminary test)",
               _kinds("images", "cells", "synthetic"), "keras_all.data.c_nmc:list_c_nmc"),
        Layout("aria", "Aria et al. 2021: Original/{Benign,Early,Pre,Pro}/*.jpg", _kinds("images", "synthetic"),
               "keras_all.data.aria:list_aria"),
        Layout("folder", "any <root>/<class>/* tree, positive class named by --positive-class", _kinds("images"),
               "keras_all.data.folder:list_folder"),
        Layout("bccd", "BCCD: Pascal VOC fields with white-cell, red-cell and platelet boxes (normal blood)",
               _kinds("marked", "normal"), marks="keras_all.data.fields:read_voc"),
        Layout("voc", "any Pascal VOC folder: JPEGImages/ + Annotations/*.xml (+ ImageSets/Main/*.txt)",
               _kinds("marked"), marks="keras_all.data.fields:read_voc"),
        Layout("yolo", "a YOLO folder: images/ + labels/*.txt (+ train/val/test), classes.txt or data.yaml",
               _kinds("marked"), marks="keras_all.data.fields:read_yolo"),
    )
}


def layouts_of(*kinds: str) -> list[str]:
    """The names of the layouts that hold data of any of ``kinds``, in the registry's order."""
    return [name for name, layout in REGISTRY.items() if layout.kinds & set(kinds)]
