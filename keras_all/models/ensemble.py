"""FoldEnsemble: a run's fold classifiers as one delivered model, the mean of their probabilities."""

from __future__ import annotations

import keras
from keras import ops

from .classifier import DeliveredModel, SpikeResNetClassifier, check_cutoff


@keras.saving.register_keras_serializable(package="keras_all")
class FoldEnsemble(DeliveredModel, keras.Model):
    """Raw uint8 RGB images -> the mean of ``members``' class probabilities (``keras-all train --final ensemble``).

    The members' spike maps are fixed and alike (one front), so they are computed once; each member then
    standardizes them with its own fitted z-score and PCA and runs its own ResNet.

    Args:
        members: trained ``SpikeResNetClassifier`` of one front configuration (a run's fold models).
        cutoff: the ALL probability at or above which ``decide`` answers ALL.
    """

    def __init__(self, members: list[SpikeResNetClassifier], cutoff: float = 0.5, **kwargs):
        members = list(members)
        if not members or any(m.preprocessor.front != members[0].preprocessor.front for m in members):
            raise ValueError("a fold ensemble needs at least one member, all of one front configuration")
        inputs = keras.Input((None, None, 3), dtype="uint8", name="image")
        mean = _MeanOverMembers(members, name="fold_mean")(members[0].preprocessor.spike_maps(inputs))
        super().__init__(inputs, mean, **kwargs)
        self.members = members
        self.cutoff = check_cutoff(cutoff)

    @property
    def preprocessor(self):
        """The first member's preprocessor (every member's front is the same)."""
        return self.members[0].preprocessor

    def on_maps(self) -> keras.Model:
        """Spike maps -> the members' mean probabilities, through the ensemble's own layers."""
        maps = keras.Input(self.preprocessor.map_shape, name="spike_maps")
        return keras.Model(maps, self.get_layer("fold_mean")(maps), name=f"{self.name}_on_maps")

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "cutoff": self.cutoff,
                "members": [keras.saving.serialize_keras_object(m) for m in self.members]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["members"] = [keras.saving.deserialize_keras_object(m) for m in config["members"]]
        return cls(**config)


class _MeanOverMembers(keras.layers.Layer):
    """Spike maps -> the mean of the members' probabilities, each member standardizing the maps its own way (one
    layer, so that the members' like-named parts do not meet in one graph)."""

    def __init__(self, members: list[SpikeResNetClassifier], **kwargs):
        super().__init__(**kwargs)
        self.members = members

    def call(self, maps, training=None):
        return ops.mean(ops.stack([m.head(m.backbone(m.preprocessor.standardize(maps), training=training))
                                   for m in self.members]), axis=0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2)
