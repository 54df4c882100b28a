"""One way from a model reference to the model a run delivers: ``load_model``.

A reference is a finished run folder, an export folder, a ``.keras`` file written by keras-all, or a SavedModel
folder. Whatever it is, ``load_model`` returns a ``LoadedModel``: raw uint8 RGB images in, the ALL probability and
the decision at the model's validated cut-off out, with the folder it belongs to (for its configuration, baseline,
training images and model card). The Keras model is read on first use, so commands that only need the folder
(``report``, ``compare``) stay quick.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import keras
import numpy as np

from keras_all.artifacts import BASELINE_JSON, CONFIG_YAML, DATA_SUMMARY_JSON, EXPORT_JSON, MODEL_CARD_MD, MODEL_KERAS
from keras_all.front import FrontConfig
from keras_all.models import DeliveredModel, load_model_file
from keras_all.run_folder import RunFolder, read_json

TRAINING_HASHES = "training_sha256.txt"  # in an export folder: the images its model was trained on
BASELINE = BASELINE_JSON  # in a run or export folder: the colour-histogram baseline fitted beside the model
EXPORT_INFO = EXPORT_JSON  # in an export folder: the served model's cut-off and where it comes from
DATA_SUMMARY = DATA_SUMMARY_JSON  # in a run or export folder: what the model was trained on


@dataclass(frozen=True)
class LoadedModel:
    """A delivered model and the folder it belongs to.

    Attributes:
        path: the ``.keras`` file or SavedModel folder that serves.
        kind: ``run``, ``export``, ``keras`` (a lone ``.keras`` file) or ``saved_model`` (a lone SavedModel).
        home: the run or export folder the model belongs to, or None.
    """

    path: Path
    kind: str
    home: Path | None = None

    @cached_property
    def classifier(self) -> DeliveredModel:
        """The Keras model (a ``SpikeResNetClassifier`` or a ``FoldEnsemble``); a lone SavedModel has none."""
        if self.path.suffix != ".keras":
            raise ValueError(f"{self.path}: a SavedModel serves images but holds no Keras classifier; give the "
                             "export folder's model.keras or its run folder")
        return read_classifier(self.path)

    @cached_property
    def _saved_model(self):
        import tensorflow as tf

        return tf.saved_model.load(str(self.path))

    @property
    def serves_saved_model(self) -> bool:
        return self.path.suffix != ".keras"

    @cached_property
    def cutoff(self) -> float:
        """The ALL probability at or above which the model answers ALL."""
        return self._cutoff_and_source[0]

    @property
    def cutoff_source(self) -> str:
        return self._cutoff_and_source[1]

    @cached_property
    def _cutoff_and_source(self) -> tuple[float, str]:
        if self.kind == "run":
            run = RunFolder(self.home)
            return run.cutoff, run.cutoff_source
        info = self.home / EXPORT_INFO if self.home is not None else None
        if info is not None and info.is_file():
            values = read_json(info)
            return float(values["cutoff"]), values["cutoff_source"]
        if self.serves_saved_model:
            raise ValueError(f"{self.path}: no {EXPORT_INFO} beside this SavedModel says its cut-off; give the "
                             "export folder, or a cut-off")
        return self.classifier.cutoff, "the model file's own (0.5 unless it was saved by a finished run)"

    @cached_property
    def front(self) -> FrontConfig | None:
        """How the model turns raw images into maps (for reading files at its size), where known."""
        if self.kind in ("run", "export") and (self.home / CONFIG_YAML).is_file():
            return RunFolder(self.home).config().front
        return None if self.serves_saved_model else self.classifier.preprocessor.front

    def predict(self, images) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB images (n, h, w, 3) of one size -> (ALL probabilities, decisions at the cut-off)."""
        if self.serves_saved_model:
            import tensorflow as tf

            out = self._saved_model.serve(tf.constant(images))
            return out["probability"].numpy(), out["decision"].numpy().astype(int)
        # called eagerly: model.predict would trace a new graph for every image size and warn of retracing
        probability = keras.ops.convert_to_numpy(self.classifier(images, training=False))[:, 1]
        return probability, (probability >= self.cutoff).astype(int)

    @property
    def trained_on(self) -> str | None:
        """The name of the data set the model was trained on (its run's data_summary.json), where known."""
        found = self.beside(DATA_SUMMARY)
        return None if found is None else read_json(found).get("dataset")

    def beside(self, name: str) -> Path | None:
        """A file of the model's run or export folder (``baseline.json``, ``MODEL_CARD.md``), where it has one."""
        path = self.home / name if self.home is not None else None
        return path if path is not None and path.is_file() else None

    def training_hashes(self) -> set[str]:
        """sha256 of every image the model was trained on (its run's development part), where known."""
        listed = self.beside(TRAINING_HASHES)
        if listed is not None:
            return set(listed.read_text().split())
        return RunFolder(self.home).training_hashes() if self.kind == "run" else set()

    @property
    def card(self) -> str | None:
        """The export's MODEL_CARD.md, where there is one."""
        card = self.beside(MODEL_CARD_MD)
        return None if card is None else card.read_text()


def load_model(reference: str | Path, prefer_saved_model: bool = True) -> LoadedModel:
    """The delivered model behind ``reference``: a finished run folder (or its model.keras), an export folder (its
    SavedModel where ``prefer_saved_model`` and it has one, else its model.keras), a folder holding a model.keras
    (``import-weights`` writes one), a ``.keras`` file or a SavedModel folder. A run that has not finished, or whose
    metrics.json cannot be read, is refused with one line naming it."""
    path = Path(reference)
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            home = path.parent if _is_export(path.parent) else None
            return LoadedModel(path, "saved_model" if home is None else "export", home)
        if _is_export(path):
            served = path / "saved_model"
            if not (prefer_saved_model and (served / "saved_model.pb").is_file()):
                served = path / MODEL_KERAS
            if not served.exists():
                raise ValueError(f"{path}: this export folder holds neither saved_model/ nor model.keras")
            return LoadedModel(served, "export", path)
        if _is_run(path):
            return _run_model(path)
        if (path / MODEL_KERAS).is_file():
            return LoadedModel(path / MODEL_KERAS, "keras", path)
        raise ValueError(f"{path}: neither a run folder, an export folder nor a SavedModel; give one of those or a "
                         ".keras file")
    if path.suffix != ".keras" or not path.is_file():
        raise ValueError(f"{path}: not a .keras file, a run folder, an export folder or a SavedModel")
    if path.name == MODEL_KERAS and _is_export(path.parent):
        return LoadedModel(path, "export", path.parent)
    if path.name == MODEL_KERAS and _is_run(path.parent):
        return _run_model(path.parent)
    return LoadedModel(path, "keras", path.parent if (path.parent / MODEL_CARD_MD).is_file() else None)


def _run_model(folder: Path) -> LoadedModel:
    run = RunFolder(folder).require_finished()
    run.metrics()  # a metrics.json cut short is refused here, naming it, before any image is scored
    return LoadedModel(folder / MODEL_KERAS, "run", folder)


def _is_run(folder: Path) -> bool:
    """A training run's folder: finished (its configuration and metrics) or marked unfinished."""
    run = RunFolder(folder)
    return run.is_run() or run.incomplete


def _is_export(folder: Path) -> bool:
    return (folder / TRAINING_HASHES).is_file() or (folder / EXPORT_INFO).is_file()


def read_classifier(path: str | Path) -> DeliveredModel:
    """The keras-all classifier (or fold ensemble) in a ``.keras`` file, or the one inside an exported serving
    model's file."""
    model = load_model_file(path)
    found = model if isinstance(model, DeliveredModel) else next(
        (m for m in model.layers if isinstance(m, DeliveredModel)), None)
    if found is None:
        raise ValueError(f"{path}: holds no keras-all classifier (written by an older keras-all?); train or "
                         "export again")
    return found


def export_info(cutoff: float, source: str) -> str:
    """The text of an export folder's export.json."""
    return json.dumps({"cutoff": cutoff, "cutoff_source": source}, indent=2) + "\n"
