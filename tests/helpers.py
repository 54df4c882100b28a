"""Helpers shared by the test modules: the CLI in-process and as the installed command, a tiny configuration,
and the comparison of two trainings on the same batches."""

import collections
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from click.testing import CliRunner

from keras_all.cli import main

# Small enough that a 2-fold run with its final model takes ~20 s on the CI machine (the stress test, which re-scores
# the holdout 25 times, is left to the runs that test it and to the README walk's).
TINY = {"run": {"name": "tiny", "folds": 2, "stress": False}, "fit": {"epochs": 1, "batch_size": 8},
        "model": {"identity_blocks": 0, "widths": [[4, 4, 8], [8, 8, 16], [8, 8, 16]]},
        "front": {"spike_size": 32, "input_size": 32, "mode": "first_spike"}}

# Two trainings on the same global batches, one on one device and one spread over devices or workers: float32 sums
# reduced in another order (an all-reduce of two half batches, synchronized batch norms) move a probability by about
# 1e-6 over a few epochs (measured: at most 3e-6); a different batch, a missing or extra step, or batch norms over
# half batches move it by 1e-2 and more. So such runs must agree to 1e-4.
TOLERANCE = 1e-4

# The console script of the environment running the tests (the one `pip install -e .` wrote).
KERAS_ALL = shutil.which("keras-all", path=str(Path(sys.executable).parent)) or shutil.which("keras-all")


def cli(*args):
    """Invoke `keras-all` in-process with string arguments."""
    return CliRunner().invoke(main, [str(a) for a in args])


def shell(*args, cwd=None, timeout=600, env=None):
    """Run the installed `keras-all` as a separate process, as a user's shell does (``shell_environment``); stdout
    and stderr as text."""
    assert KERAS_ALL, "the keras-all console script is not installed in this environment"
    return subprocess.run([KERAS_ALL, *(a if isinstance(a, bytes) else str(a) for a in args)], cwd=cwd,
                          capture_output=True, timeout=timeout, env=shell_environment(env), text=True,
                          errors="backslashreplace")


def shell_environment(changes: dict | None = None) -> dict:
    """A user's shell's environment for `keras-all`: this process's, less TF_CPP_MIN_LOG_LEVEL (which JAX, imported
    by Keras here, sets to 1), with ``changes``."""
    return {**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}, **(changes or {})}


def tiny_config(folder: Path, changes: dict | None = None) -> Path:
    """Write TINY with ``changes`` (keys ``group.setting``) as a YAML preset in ``folder``; returns its path."""
    values = {group: dict(settings) for group, settings in TINY.items()}
    for key, value in (changes or {}).items():
        group, name = key.split(".")
        values.setdefault(group, {})[name] = value
    path = Path(folder) / "tiny.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def fitted_preprocessor(images, front, seed=0):
    """A SpikePreprocessor whose standardizer is fitted on ``images``' spike maps; and that standardizer."""
    from keras_all import SpikePreprocessor

    preprocessor = SpikePreprocessor.fitted_on(images, front, seed)
    return preprocessor, preprocessor.standardizer


def as_model(layer):
    """A functional model raw uint8 images -> ``layer``'s output (for predict, save and export)."""
    import keras

    inputs = keras.Input((None, None, 3), dtype="uint8")
    return keras.Model(inputs, layer(inputs))


def save_and_reload(model, folder, name="model.keras"):
    """``model`` saved to ``folder`` and loaded back in this interpreter, as a user's script would."""
    import keras

    path = Path(folder) / name
    model.save(path)
    return keras.saving.load_model(path)


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 (all held open at once while they are found)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def same_training(one: Path, two: Path, probability_tolerance: float) -> None:
    """Each fold's and the final model's held-out rows, per-epoch training losses and accuracies, and best epochs
    agree between the run folders ``one`` and ``two``, trained on the same batches."""
    for part in ("fold_0", "fold_1", "final"):
        alone, together = (pd.read_csv(run / part / "predictions.csv") for run in (one, two))
        assert (alone["path"] == together["path"]).all()
        assert np.abs(alone["probability"] - together["probability"]).max() < probability_tolerance, part
        logs = [pd.read_csv(run / part / "log.csv") for run in (one, two)]
        assert len(logs[0]) == len(logs[1]) and np.abs(logs[0]["loss"] - logs[1]["loss"]).max() < TOLERANCE, part
        assert np.abs(logs[0]["accuracy"] - logs[1]["accuracy"]).max() < TOLERANCE, part
    folds = [json.loads((run / "metrics.json").read_text())["folds"] for run in (one, two)]
    assert [f["best_epoch"] for f in folds[0]] == [f["best_epoch"] for f in folds[1]]


def counted_decodes(monkeypatch) -> collections.Counter:
    """Every decode of an image file, by file, from here on (data.io's decoder wrapped)."""
    from keras_all.data import io, samples

    counts, real = collections.Counter(), io.decode_image

    def counted(data, path="<bytes>", min_side=io.MIN_SIDE):
        counts[str(path)] += 1
        return real(data, path, min_side)

    monkeypatch.setattr(io, "decode_image", counted)
    monkeypatch.setattr(samples, "decode_image", counted)
    return counts



def table_rows(markdown: str) -> list[list[str]]:
    """The rows of every Markdown table in ``markdown``, each as its stripped cells (rules left out)."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in markdown.splitlines()
            if line.startswith("|")]
    return [row for row in rows if not all(set(cell) <= set(":-") for cell in row)]
