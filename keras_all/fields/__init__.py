"""The old home of the smear-field modules, kept for one release: ``import keras_all.fields.finder`` still works,
with one warning naming the module's new place (cells/ for image analysis, data/ for reading, training/ and
evaluation/ for what learns and judges, commands/ for the drivers)."""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {"scale": "keras_all.cells.scale", "finder": "keras_all.cells.finder", "crops": "keras_all.cells.crops",
         "scoring": "keras_all.cells.scoring", "slide_rule": "keras_all.cells.slide_rule",
         "annotations": "keras_all.data.fields", "cell_data": "keras_all.training.cell_data",
         "field_controls": "keras_all.evaluation.field_controls", "slide_judge": "keras_all.evaluation.slide_judge",
         "cells_run": "keras_all.commands.cells", "slides_run": "keras_all.commands.slides"}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``keras_all.fields.NAME`` at its new place, once, with a FutureWarning."""

    def find_spec(self, fullname, path=None, target=None):
        old, _, name = fullname.rpartition(".")
        if old != __name__ or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = MOVED[spec.name.rpartition(".")[2]]
        warnings.warn(f"{spec.name} is now {new}; the old name goes in the next release", FutureWarning, stacklevel=2)
        return importlib.import_module(new)

    def exec_module(self, module):
        """The module was run at its new place."""


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.insert(0, _MovedModules())
