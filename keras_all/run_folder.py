"""Run folders that are complete or visibly marked incomplete, never silently half-written."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import yaml

from keras_all import interruption
from keras_all.artifacts import CONFIG_YAML, METRICS_JSON, MODEL_KERAS, SPLITS_CSV

INCOMPLETE = "INCOMPLETE"
VALIDATED_POINT = "youden"  # the operating point whose cut-off a run's model and export decide at


class RunFolder:
    """A training run's (or a search's, or an evaluation's) folder: its paths, the INCOMPLETE marker, atomic
    writes, and what a finished run holds (the resolved configuration, metrics, the validated cut-off). Every
    command reads and writes run files through it.
    """

    def __init__(self, path: str | Path | RunFolder):
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __str__(self) -> str:
        return str(self.path)

    @classmethod
    def new(cls, base: str | Path, name: str) -> RunFolder:
        """A fresh timestamped folder under ``base`` (not yet made)."""
        return cls(Path(base) / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}")

    def open(self, resume: bool, command: str = "train") -> RunFolder:
        """Create the folder (or reopen it with ``resume``) and mark it incomplete until ``close``.

        A folder holding nothing but the INCOMPLETE marker (a run that stopped before it wrote its
        configuration) is taken over by a fresh run: there is nothing in it to resume or to lose.
        """
        path = self.check_opening(resume)
        path.mkdir(parents=True, exist_ok=True)
        (path / INCOMPLETE).write_text(f"this run has not finished; `keras-all {command} ... --resume` continues it\n")
        return self

    def check_opening(self, resume: bool) -> Path:
        """The folder's path, if ``open`` may make it (or reopen it with ``resume``); else one clear error. Commands
        check it before any work."""
        path = self.path
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path}: is a file; pass a folder as --output")
        if path.exists() and {p.name for p in path.iterdir()} - {INCOMPLETE} and not resume:
            raise ValueError(f"{path}: folder exists and is not empty; pass --resume to continue it or a new --output")
        if resume and not (path / CONFIG_YAML).is_file():
            raise ValueError(f"{path}: nothing to resume (no config.yaml); start a new run without --resume")
        if resume and not (path / INCOMPLETE).exists():
            raise ValueError(f"{path}: this run is already complete; nothing to resume")
        return path

    def close(self) -> None:
        """Mark the run complete (not after a Ctrl-C, even one that Python swallowed)."""
        interruption.check()
        (self.path / INCOMPLETE).unlink()

    def mark_failed(self, error: BaseException) -> None:
        with open(self.path / INCOMPLETE, "a") as marker:
            marker.write(f"stopped by {type(error).__name__}: {error}\n")

    @property
    def incomplete(self) -> bool:
        return (self.path / INCOMPLETE).exists()

    def is_run(self) -> bool:
        """A finished or unfinished training run (it has its configuration and metrics)."""
        return (self.path / CONFIG_YAML).is_file() and (self.path / METRICS_JSON).is_file()

    def require_finished(self) -> RunFolder:
        """Self, if the run finished (model.keras and metrics.json, no INCOMPLETE); else one clear error."""
        if self.incomplete or not (self.path / METRICS_JSON).is_file() or not (self.path / MODEL_KERAS).is_file():
            raise ValueError(f"{self.path}: not a finished run (needs model.keras and metrics.json, no INCOMPLETE)")
        return self

    def part(self, name: str) -> RunFolder:
        """A fold's (or the final model's) sub-folder, made if missing."""
        (self.path / name).mkdir(exist_ok=True)
        return RunFolder(self.path / name)

    def write_json(self, name: str, data) -> None:
        write_json(self.path / name, data)

    def read_json(self, name: str):
        return read_json(self.path / name)

    def write_csv(self, name: str, table: pd.DataFrame) -> None:
        write_text_atomically(self.path / name, table.to_csv(index=False))

    def read_csv(self, name: str, **options) -> pd.DataFrame:
        return pd.read_csv(self.path / name, **options)

    def write_or_check(self, name: str, text: str, resume: bool, what: str) -> None:
        write_or_check(self.path / name, text, resume, what)

    def config(self):
        """The run's resolved TrainConfig, from its config.yaml."""
        from keras_all.config import from_dict

        try:
            values = yaml.safe_load((self.path / CONFIG_YAML).read_text())
        except (OSError, yaml.YAMLError) as err:
            raise ValueError(f"{self.path / 'config.yaml'}: cannot be read ({err})") from None
        return from_dict(values, str(self.path / CONFIG_YAML))

    def metrics(self) -> dict:
        return self.read_json(METRICS_JSON)

    @property
    def validated_point(self) -> dict:
        """The run's operating point: Youden's J on its out-of-fold validation predictions (its cut-off, and the
        final model's holdout metrics there)."""
        return self.metrics()["operating_points"][VALIDATED_POINT]

    @property
    def cutoff(self) -> float:
        """The run's validated cut-off (``validated_point``'s)."""
        return self.validated_point["cutoff"]

    @property
    def cutoff_source(self) -> str:
        return f"Youden's J on the run's out-of-fold validation predictions ({self.path})"

    def training_hashes(self) -> set[str]:
        """sha256 of every image the run's model was trained on (the development part), from splits.csv."""
        splits = self.path / SPLITS_CSV
        if not splits.is_file():
            return set()
        table = pd.read_csv(splits, dtype=str)
        if "sha256" not in table:
            raise ValueError(f"{splits}: has no sha256 column (written by an older keras-all); train again to "
                             "check evaluation images against the training images")
        return set(table.loc[table["split"] == "dev", "sha256"].str.split(":").str[0])  # paper copies: "<hash>:<k>"


def write_or_check(path: Path, text: str, resume: bool, what: str) -> None:
    """Write ``text`` (atomically); when resuming an existing file, insist that it is unchanged."""
    if resume and path.exists():
        if path.read_text() != text:
            raise ValueError(f"{path}: the {what} differs from the interrupted run's; resume with the same "
                             "settings or start a new run")
        return
    write_text_atomically(path, text)


def read_json(path: Path):
    """The JSON content of ``path``; a missing or unreadable file is a ValueError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: missing; the folder is not a finished keras-all run or evaluation") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not readable JSON ({err}); it was cut short or edited: restore it, or "
                         "train or evaluate again") from None


def write_json(path: Path, data) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    write_text_atomically(path, json.dumps(data, indent=2, default=_plain) + "\n")


def write_text_atomically(path: Path, text: str) -> None:
    """Whole or not at all, also when processes (distributed tuning workers) write the same file at once."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
