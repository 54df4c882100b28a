"""Baselines beside the ResNet, by the same splits as a finished honest run: logistic regression on a 48-bin
HSV colour histogram (the package's, which every honest run now fits by itself: keras_all/evaluation/baseline.py),
and on 32x32 gray pixels after PCA(50).

    python experiments/baselines.py RUN_FOLDER NAME [--results experiments/results]

Reads RUN_FOLDER/splits.csv (path, label, dev or test, validation fold); per fold, fits on the fold's
training part and scores its validation part, then fits on all development images and scores the holdout
test, as `keras-all train` does. Class weights are balanced, as the trainer balances with copies.
Writes RESULTS/NAME-hsv-histogram/ and RESULTS/NAME-gray-pca50/ with metrics.json and run.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from keras_all.data import read_image
from keras_all.histogram import hsv_histogram
from keras_all.metrics import binary_metrics, mean_sd
from keras_all.run_folder import RunFolder, write_json
from keras_all.training.cross_validate import SUMMARY_KEYS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from machine import describe  # noqa: E402  (benchmarks/machine.py)


def gray_pixels(image: np.ndarray) -> np.ndarray:
    return cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (32, 32), interpolation=cv2.INTER_AREA).ravel() / 255


def _classifier():
    return LogisticRegression(max_iter=5000, class_weight="balanced")


BASELINES = {  # name: (features of one image, model for n training rows)
    "hsv-histogram": (hsv_histogram, lambda seed, n: make_pipeline(StandardScaler(), _classifier())),
    # PCA(50), or n - 1 components where a training part holds fewer than 51 images (the C-NMC sample)
    "gray-pca50": (gray_pixels, lambda seed, n: make_pipeline(PCA(min(50, n - 1), random_state=seed), _classifier())),
}


def cross_validate(features: np.ndarray, splits: pd.DataFrame, make_model, seed: int) -> dict:
    labels = splits["label"].to_numpy()
    dev, test = np.flatnonzero(splits["split"] == "dev"), np.flatnonzero(splits["split"] == "test")
    folds = []
    for k in sorted(splits.loc[splits["fold"] >= 0, "fold"].unique()):
        train = np.flatnonzero((splits["split"] == "dev") & (splits["fold"] != k))
        val = np.flatnonzero(splits["fold"] == k)
        model = make_model(seed, len(train)).fit(features[train], labels[train])
        folds.append({"validation": binary_metrics(labels[val], model.predict_proba(features[val])[:, 1]),
                      "test": binary_metrics(labels[test], model.predict_proba(features[test])[:, 1])})
    final = make_model(seed, len(dev)).fit(features[dev], labels[dev])
    return {"protocol": "honest", "leaky": False, "n_dev": int(len(dev)), "n_test": int(len(test)), "folds": folds,
            "validation_mean_sd": mean_sd([f["validation"] for f in folds], SUMMARY_KEYS),
            "fold_models_on_test_mean_sd": mean_sd([f["test"] for f in folds], SUMMARY_KEYS),
            "final_on_test": binary_metrics(labels[test], final.predict_proba(features[test])[:, 1])}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="A finished honest run folder (its splits.csv is reused).")
    parser.add_argument("name", help="Prefix of the result folders, e.g. aria.")
    parser.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    splits = RunFolder(args.run).read_csv("splits.csv")
    if "copy" in splits.columns:
        raise SystemExit(f"{args.run}: a paper-protocol run (augmented copies in its splits); give an honest run")
    seed = RunFolder(args.run).config().run.seed
    images = [read_image(path) for path in splits["path"]]
    for name, (feature, make_model) in BASELINES.items():
        started = time.perf_counter()
        result = cross_validate(np.stack([feature(image) for image in images]), splits, make_model, seed)
        out = args.results / f"{args.name}-{name}"
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "metrics.json", result)
        write_json(out / "run.json", {"command": f"python experiments/baselines.py {args.run} {args.name}",
                                      "splits_of": str(args.run), "seconds": time.perf_counter() - started,
                                      "machine": describe()})
        accuracy = result["validation_mean_sd"]["accuracy"]
        print(f"{out.name}: validation accuracy {accuracy['mean']:.3f} ± {accuracy['sd']:.3f}, holdout "
              f"accuracy {result['final_on_test']['accuracy']:.3f}, AUC {result['final_on_test']['auc']:.3f}")


if __name__ == "__main__":
    main()
