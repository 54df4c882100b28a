"""SpikeResNetClassifier: the whole model as one Keras object, in keras-hub's task-model shape."""

from __future__ import annotations

import keras
import numpy as np

from keras_all.front import FrontConfig, Standardizer
from keras_all.layers import Decision

from .preprocessor import SpikePreprocessor
from .resnet import build_backbone, build_head


class DeliveredModel:
    """What every model a run delivers does (a ``SpikeResNetClassifier``, or a ``FoldEnsemble`` of them): raw uint8
    RGB images -> class probabilities, decided at its validated ``cutoff``."""

    cutoff: float

    def decide(self, probabilities) -> np.ndarray:
        """1 (ALL) where the ALL probability reaches the cut-off, else 0."""
        return (np.asarray(probabilities)[:, 1] >= self.cutoff).astype(int)

    def serving_model(self, familiarity: list[keras.layers.Layer] = ()) -> keras.Model:
        """image -> {probability (of ALL), decision (at the cut-off)}: what an export serves; with ``familiarity``
        (``evaluation.familiarity.Familiarity.layers``: raw image -> (score, flag)), also {unfamiliarity,
        unfamiliar}."""
        inputs = keras.Input((None, None, 3), dtype="uint8", name="image")
        # training=False is stored with the call, so a SavedModel's serve never runs a layer in training mode
        probability, decision = Decision(self.cutoff, name="decision")(self(inputs, training=False))
        outputs = {"probability": probability, "decision": decision}
        if familiarity:
            x = inputs
            for layer in familiarity[:-1]:
                x = layer(x)
            outputs["unfamiliarity"], outputs["unfamiliar"] = familiarity[-1](x)
        return keras.Model(inputs, outputs, name="keras_all_serving")


@keras.saving.register_keras_serializable(package="keras_all")
class SpikeResNetClassifier(DeliveredModel, keras.Model):
    """Raw uint8 RGB images of any size -> class probabilities (index 1: ALL), with its validated cut-off.

    Its parts are attributes: ``preprocessor`` (spike maps and the standardizer fitted on training maps),
    ``backbone`` (the paper's bottleneck ResNet up to its features) and ``head`` (the softmax layer).
    ``keras.saving.load_model`` reads a saved one after ``import keras_all``.

    Args:
        preprocessor: a ``SpikePreprocessor``.
        backbone: a model from standardized maps to features (``build_backbone``).
        head: a layer from features to class probabilities (``build_head``).
        cutoff: the ALL probability at or above which ``decide`` answers ALL (a run sets the Youden cut-off
            of its out-of-fold validation predictions).
    """

    def __init__(self, preprocessor: SpikePreprocessor, backbone: keras.Model, head: keras.layers.Layer,
                 cutoff: float = 0.5, **kwargs):
        inputs = keras.Input((None, None, 3), dtype="uint8", name="image")
        outputs = head(backbone(preprocessor(inputs)))
        super().__init__(inputs, outputs, **kwargs)
        self.preprocessor, self.backbone, self.head = preprocessor, backbone, head
        self.cutoff = check_cutoff(cutoff)

    @classmethod
    def from_config_of(cls, config, standardizer: Standardizer | None = None) -> SpikeResNetClassifier:
        """An untrained classifier of a ``TrainConfig``; its preprocessor holds ``standardizer`` (or is unfitted).

        Layers are made in the order of the weights' initialisation draws: seeded runs repeat exactly.
        """
        front: FrontConfig = config.front
        preprocessor = SpikePreprocessor(front, standardizer, name="preprocessor")
        backbone = build_backbone((front.input_size, front.input_size, front.model_channels), config.model.widths,
                                  config.model.identity_blocks, bn_momentum=config.model.bn_momentum)
        return cls(preprocessor, backbone, build_head(), name="keras_all")

    @classmethod
    def from_preset(cls, name: str, standardizer: Standardizer | None = None,
                    overrides: dict | None = None) -> SpikeResNetClassifier:
        """The untrained model of a preset (``keras_all.presets``), with ``overrides`` as ``load_config`` takes
        (``{"model.identity_blocks": 1}``)."""
        from keras_all.config import load_config

        return cls.from_config_of(load_config(preset=name, overrides=overrides), standardizer)

    def on_maps(self, augmentation: keras.layers.Layer | None = None) -> keras.Model:
        """Spike maps -> class probabilities through this classifier's own layers (the trainer computes each
        map once); ``augmentation`` goes between the standardizer and the backbone, acting in training only."""
        maps = keras.Input(self.preprocessor.map_shape, name="spike_maps")
        x = self.preprocessor.standardize(maps)
        if augmentation is not None:  # after the z-score: an edge moved onto a rarely-edged pixel stays in scale
            x = augmentation(x)
        return keras.Model(maps, self.head(self.backbone(x)), name=f"{self.name}_on_maps")

    def on_images(self, stain: keras.layers.Layer | None = None,
                  augmentation: keras.layers.Layer | None = None) -> keras.Model:
        """Raw images at the front's image size (levels 0..255) -> class probabilities, the spike maps made batch by
        batch: ``stain`` (``layers.StainJitter``) acts on the images and ``augmentation`` as in ``on_maps``, both
        in training only (a run whose training jitters the stain trains this)."""
        size = self.preprocessor.front.image_size
        images = keras.Input((size, size, 3), name="images")
        x = images if stain is None else stain(images)
        x = self.preprocessor.standardize(self.preprocessor.spike_maps(x))
        if augmentation is not None:
            x = augmentation(x)
        return keras.Model(images, self.head(self.backbone(x)), name=f"{self.name}_on_images")

    def resnet(self) -> keras.Model:
        """Backbone and head as one model on standardized maps (the layout of the authors' Keras 2 files)."""
        return keras.Model(self.backbone.input, self.head(self.backbone.output), name="resnet")

    @property
    def batch_norms(self) -> list[keras.layers.BatchNormalization]:
        """The backbone's batch-norm layers, in order."""
        return [layer for layer in self.backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]

    def get_config(self):
        # not chained to keras.Model: a functional model's config is its graph, which __init__ rebuilds
        return {"name": self.name, "trainable": self.trainable, "cutoff": self.cutoff,
                "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "head": keras.saving.serialize_keras_object(self.head)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for part in ("preprocessor", "backbone", "head"):
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)


def check_cutoff(cutoff) -> float:
    if not 0 <= cutoff <= 1:
        raise ValueError(f"cutoff={cutoff}: a cut-off on the ALL probability lies in [0, 1]")
    return float(cutoff)
