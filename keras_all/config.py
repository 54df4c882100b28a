"""Run configuration: a dataclass, built from a preset (keras_all/presets.py), a YAML file and overrides."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from keras_all.checks import check_between, check_integer, is_integer
from keras_all.front import FrontConfig
from keras_all.models.resnet import PAPER_WIDTHS
from keras_all.presets import preset_values

PROTOCOLS = ("honest", "paper")
STOP_ON = ("auc", "loss", "off")  # early stopping on the validation part's AUC or loss, or every epoch trained
# The settings left unset (None) take their protocol's value. The honest protocol's adapt to the data's size:
# up to 60 epochs, stopped on the validation AUC (best weights restored), batch-norm statistics that settle in
# tens of steps (momentum 0.9: after 60 steps 0.99's still hold 55% of their initial values) and re-estimated
# on un-augmented maps after training (experiments/README.md). The paper protocol keeps the paper's settings.
PROTOCOL_DEFAULTS = {
    "honest": {"epochs": 60, "stop_on": "auc", "bn_momentum": 0.9, "recalibrate_bn": True},
    "paper": {"epochs": 10, "stop_on": "off", "bn_momentum": 0.99, "recalibrate_bn": False},
}
FINALS = ("refit", "ensemble")
SEED_LIMIT = 2**32 - 1  # NumPy's and Keras' seeds are unsigned 32-bit integers
DISTRIBUTIONS = ("none", "mirrored", "multi-worker")
MAP_STORAGE = ("auto", "memory", "stream")  # auto: stream where the maps would take over 1/8 of the memory
DEFAULT_PRESET = "honest"


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on besides the data. Its defaults are the honest protocol's with the paper's
    first-spike front; ``load_config`` starts from the ``honest`` preset, which adds the front the experiments chose."""

    name: str = "run"
    protocol: str = "honest"
    folds: int = 4
    epochs: int | None = None  # most epochs per fold (honest 60, paper 10)
    stop_on: str | None = None  # early stopping on validation "auc" or "loss" (honest: auc), or "off" (paper)
    stop_patience: int = 10  # epochs without a better validation score before a fold stops
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_factor: float = 0.3  # ReduceLROnPlateau on the stopping score (validation accuracy where stop_on is off)
    lr_patience: int = 5  # epochs without a better stopping score (as lr_factor says) before the rate is cut
    test_fraction: float = 0.2  # the holdout test, split off before any fold
    seed: int = 0
    widths: tuple = PAPER_WIDTHS
    identity_blocks: int = 2  # per stage, after its convolutional block
    bn_momentum: float | None = None  # honest 0.9, paper 0.99
    augment: bool = True  # online flips, 10% shifts, 20% zoom, 30 degree rotations on training batches
    balance: bool = True  # augmented copies of the minority class inside each training part
    recalibrate_bn: bool | None = None  # after training, batch-norm statistics re-estimated on un-augmented maps
    final: str = "refit"  # the delivered model: one refit on all development data, or the fold models' mean
    max_per_class: int | None = None  # a seeded class-balanced subsample of at most this many images per class
    paper_augment_factor: int = 4  # paper protocol: the pooled images times this, before splitting
    distribute: str = "none"  # mirrored: over every local device (GPUs); multi-worker: over machines
    maps: str = "auto"  # spike maps held in memory, or streamed from a float16 cache in the run folder (honest only)
    front: FrontConfig = field(default_factory=FrontConfig)

    def __post_init__(self):
        if not isinstance(self.name, str) or not re.fullmatch(r"[\w.+-]+", self.name):
            raise ValueError(f"name={self.name!r}: use letters, digits, '.', '_', '+' or '-' (it names the run folder)")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol={self.protocol!r}: use one of {', '.join(PROTOCOLS)}")
        if self.stop_on is False:  # YAML reads an unquoted `stop_on: off` as false
            object.__setattr__(self, "stop_on", "off")
        for name, value in PROTOCOL_DEFAULTS[self.protocol].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.stop_on not in STOP_ON:
            raise ValueError(f"stop_on={self.stop_on!r}: use one of {', '.join(STOP_ON)}")
        if self.final not in FINALS:
            raise ValueError(f"final={self.final!r}: use one of {', '.join(FINALS)}")
        if self.max_per_class is not None:
            check_integer("max_per_class", self.max_per_class, 2)
        for name in ("folds", "epochs", "batch_size", "paper_augment_factor", "lr_patience", "identity_blocks",
                     "stop_patience"):
            check_integer(name, getattr(self, name), {"folds": 2, "identity_blocks": 0}.get(name, 1))
        check_integer("seed", self.seed, 0, SEED_LIMIT)
        for name in ("augment", "balance", "recalibrate_bn"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r}: must be true or false")
        if self.maps not in MAP_STORAGE:
            raise ValueError(f"maps={self.maps!r}: use one of {', '.join(MAP_STORAGE)}")
        if self.maps == "stream" and self.protocol == "paper":
            raise ValueError("maps=stream: the paper protocol pools augmented copies of every map in memory; "
                             "stream under the honest protocol, or use maps: memory")
        if self.distribute not in DISTRIBUTIONS:
            raise ValueError(f"distribute={self.distribute!r}: use one of {', '.join(DISTRIBUTIONS)}")
        check_between("test_fraction", self.test_fraction, 0, 0.5)
        check_between("lr_factor", self.lr_factor, 0, 1)
        check_between("bn_momentum", self.bn_momentum, 0, 1, low_included=True)
        check_between("learning_rate", self.learning_rate, 0, 1, high_included=True)
        widths = self.widths
        if not isinstance(widths, list | tuple) or not widths or any(
                not isinstance(w, list | tuple) or len(w) != 3 or not all(is_integer(v) and v >= 1 for v in w)
                for w in widths):
            raise ValueError(f"widths={widths!r}: give one [f1, f2, f3] list of positive integers per stage, "
                             "e.g. [[32, 32, 64], [64, 64, 128], [64, 64, 256]]")
        object.__setattr__(self, "widths", tuple(tuple(w) for w in widths))

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["widths"] = [list(w) for w in self.widths]
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def from_dict(values: dict, source: str = "config") -> TrainConfig:
    """A TrainConfig from a (possibly partial) mapping; unknown keys are an error naming them."""
    values = dict(values or {})
    front_values = values.pop("front", None) or {}
    if not isinstance(front_values, dict):
        raise ValueError(f"{source}: front={front_values!r}: give a mapping of front settings, e.g. front: "
                         "{spike_size: 224, mode: first_spike}")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    front_known = {f.name for f in dataclasses.fields(FrontConfig)}
    unknown = sorted(set(values) - known) + sorted(f"front.{k}" for k in set(front_values) - front_known)
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {', '.join(unknown)}")
    return TrainConfig(**values, front=FrontConfig(**front_values))


def load_config(path: str | Path | None = None, overrides: dict | None = None,
                preset: str | None = None) -> TrainConfig:
    """A TrainConfig from, in order: a preset (``honest`` unless one is named), the YAML file at ``path``, and the
    non-None ``overrides``.

    The YAML file may name its own starting preset (``preset: paper_all_idb``) and then hold only what
    differs; ``preset`` and a file's own preset may not both be given. Override keys are TrainConfig
    fields, or ``front.<field>`` for the preprocessing front.
    """
    values: dict = {}
    if path is not None:
        try:
            values = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ValueError(f"{path}: cannot read the configuration ({err})") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of settings, found {type(values).__name__}")
        if "preset" in values and preset is not None:
            raise ValueError(f"{path}: names preset {values['preset']!r}; give --preset or a file with its own "
                             "preset, not both")
        preset = values.pop("preset", preset)
    values = _merged(preset_values(preset or DEFAULT_PRESET), values)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key.startswith("front."):
            values.setdefault("front", {})[key.split(".", 1)[1]] = value
        else:
            values[key] = value
    return from_dict(values, str(path or preset or DEFAULT_PRESET))


def _merged(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` on top; the front's settings are merged key by key."""
    front = changes.get("front")
    merged = {**base, **changes}
    if isinstance(front, dict):
        merged["front"] = {**base.get("front", {}), **front}
    return merged
