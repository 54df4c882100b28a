"""Cut-offs chosen on out-of-fold validation predictions only, then applied unchanged to the holdout test."""

from __future__ import annotations

import pandas as pd

from keras_all.metrics import binary_metrics, high_sensitivity_cutoff, youden_cutoff


def operating_points(predictions: pd.DataFrame, target: float = 0.99) -> dict:
    """Youden's J and the highest cut-off reaching sensitivity ``target``, chosen on the rows with part
    "validation" (the fold models' out-of-fold predictions) and scored on the rows with part "test" (the
    final model's holdout predictions)."""
    validation = predictions[predictions["part"] == "validation"]
    test = predictions[predictions["part"] == "test"]
    chosen = {
        "youden": ("Youden's J", youden_cutoff(validation["label"], validation["probability"])),
        "high_sensitivity": (f"sensitivity >= {target}", high_sensitivity_cutoff(
            validation["label"], validation["probability"], target)),
    }
    return {name: {"description": text, "cutoff": cutoff, "chosen_on": "out-of-fold validation predictions",
                   "validation": binary_metrics(validation["label"], validation["probability"], cutoff),
                   "final_on_test": binary_metrics(test["label"], test["probability"], cutoff)}
            for name, (text, cutoff) in chosen.items()}
