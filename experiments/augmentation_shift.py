"""Why the honest models call benign images ALL at 0.5: their inputs at training (augmented) and at
inference (plain) differ in scale. Fold 1's model of a finished honest run, on its validation part:

    python experiments/augmentation_shift.py RUN_FOLDER NAME   # writes experiments/results/NAME/augmentation_shift.json

- the per-image standard deviation of the ResNet's input, plain and through the model's own online
  augmentation (shift, zoom and rotation each resample it bilinearly, which smooths it);
- the model's scores (batch norm in inference mode) on the plain inputs, as evaluated, and on augmented
  ones, as it saw in training.
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np

from keras_all.loader import load_model
from keras_all.metrics import binary_metrics
from keras_all.run_folder import RunFolder, write_json
from keras_all.training.arrays import spike_maps
from keras_all.training.model import augmentation

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 0


def augmentation_shift(run: Path) -> dict:
    config = RunFolder(run).config()
    if config.run.protocol != "honest" or not config.fit.augment:
        raise SystemExit(f"{run}: needs an honest run trained with online augmentation")
    splits = RunFolder(run).read_csv("splits.csv")
    validation = splits[(splits["split"] == "dev") & (splits["fold"] == 0)]
    classifier = load_model(Path(run) / "fold_0" / "model.keras").classifier
    augment, resnet = augmentation(SEED), classifier.resnet()  # the training's augmentation, freshly seeded
    keras.utils.set_random_seed(SEED)
    maps = spike_maps(validation["path"], config.front)
    plain = np.concatenate([keras.ops.convert_to_numpy(classifier.preprocessor.standardize(maps[i : i + 64]))
                            for i in range(0, len(maps), 64)])
    augmented = np.concatenate([keras.ops.convert_to_numpy(augment(plain[i : i + 64], training=True))
                                for i in range(0, len(plain), 64)])
    labels = validation["label"].to_numpy()
    out = {"run": str(run), "fold": 1, "n_validation": len(labels)}
    for name, inputs in (("plain", plain), ("augmented", augmented)):
        probability = resnet.predict(inputs, batch_size=config.fit.batch_size, verbose=0)[:, 1]
        out[name] = {"per_image_std": float(inputs.std(axis=(1, 2, 3)).mean()),
                     "metrics": binary_metrics(labels, probability)}
    out["std_ratio_augmented_to_plain"] = out["augmented"]["per_image_std"] / out["plain"]["per_image_std"]
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    result = augmentation_shift(Path(sys.argv[1]))
    (RESULTS / sys.argv[2]).mkdir(parents=True, exist_ok=True)
    write_json(RESULTS / sys.argv[2] / "augmentation_shift.json", result)
    print(f"per-image std of the ResNet input: augmented / plain = {result['std_ratio_augmented_to_plain']:.3f}")
    for name in ("plain", "augmented"):
        m = result[name]["metrics"]
        print(f"fold 1 validation, {name} inputs: " + ", ".join(
            f"{key} {m[key]:.3f}" for key in ("accuracy", "sensitivity", "specificity", "auc")))
