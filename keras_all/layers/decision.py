"""The serving model's last layer: class probabilities -> ALL probability and decision at a cut-off."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_all")
class Decision(keras.layers.Layer):
    """Class probabilities -> (ALL probability, decision at the stored cut-off)."""

    def __init__(self, cutoff: float, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= cutoff <= 1:
            raise ValueError(f"cutoff={cutoff}: must lie in [0, 1]")
        self.cutoff = float(cutoff)

    def call(self, probabilities):
        probability = probabilities[:, 1]
        return probability, ops.cast(probability >= self.cutoff, "int32")

    def compute_output_spec(self, probabilities):
        batch = probabilities.shape[0]
        return keras.KerasTensor((batch,), "float32"), keras.KerasTensor((batch,), "int32")

    def get_config(self):
        return {**super().get_config(), "cutoff": self.cutoff}
