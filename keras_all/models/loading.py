"""Reading a keras-all ``.keras`` file, with one clear error for anything that is not one."""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras


def load_model_file(path: str | Path) -> keras.Model:
    """The model in ``path``; a missing file, a file that is not a Keras archive or one that does not load
    is a ValueError naming it (the package's layers are registered by ``import keras_all``)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a Keras model file (a .keras file is a zip archive); give a run folder, "
                         "an export folder or a .keras file written by keras-all")
    try:
        return keras.saving.load_model(path)
    except Exception as err:  # any failure inside Keras' loader means a bad file to the user
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: cannot be loaded as a keras-all model ({detail})") from None
