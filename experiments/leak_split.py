"""How much of a paper-protocol test score comes from the leak: the final model's holdout test rows split by
whether another augmented copy of the same image sat in the development (training) images, and by whether
the row is an original image or an augmented copy (smoothed like the training inputs).

    python experiments/leak_split.py RUN_FOLDER NAME      # writes experiments/results/NAME/leak.json

Reads RUN_FOLDER/splits.csv (path, copy, split) and RUN_FOLDER/final/predictions.csv (the test rows in the
same order), scores each group at the 0.5 cut-off.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from keras_all.metrics import binary_metrics
from keras_all.run_folder import RunFolder, write_json

RESULTS = Path(__file__).resolve().parent / "results"


def leak_split(run: Path) -> dict:
    splits = RunFolder(run).read_csv("splits.csv")
    if "copy" not in splits.columns:
        raise SystemExit(f"{run}: not a paper-protocol run (no copy column in splits.csv)")
    test = splits[splits["split"] == "test"].reset_index(drop=True)
    predictions = RunFolder(run).read_csv("final/predictions.csv")
    if len(predictions) != len(test) or (predictions["path"].to_numpy() != test["path"].to_numpy()).any():
        raise SystemExit(f"{run}: final/predictions.csv does not follow the test rows of splits.csv")
    trained_on = set(splits.loc[splits["split"] == "dev", "path"])
    seen = test["path"].isin(trained_on).to_numpy()
    original = (test["copy"] == 0).to_numpy()
    out = {}
    for name, rows in (("copy_in_training", seen), ("no_copy_in_training", ~seen), ("original", original),
                       ("augmented_copy", ~original)):
        out[name] = binary_metrics(predictions["label"][rows], predictions["probability"][rows])
    out["share_of_test_rows_with_a_copy_in_training"] = float(np.mean(seen))
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    result = leak_split(Path(sys.argv[1]))
    write_json(RESULTS / sys.argv[2] / "leak.json", result)
    print(f"{result['share_of_test_rows_with_a_copy_in_training']:.1%} of the test rows have a copy in training")
    for name in ("copy_in_training", "no_copy_in_training", "original", "augmented_copy"):
        m = result[name]
        shown = ", ".join(f"{key} {'n/a' if m[key] is None else f'{m[key]:.3f}'}"
                          for key in ("accuracy", "sensitivity", "specificity", "auc"))
        print(f"{name}: n {m['n']}, {shown}")
