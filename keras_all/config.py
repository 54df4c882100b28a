"""Run configuration, grouped by concern: ``run`` (the protocol and what the run delivers), ``model`` (the ResNet),
``front`` (raw image -> the ResNet's input), ``fit`` (how each model is trained) and ``cells`` (whether a run
learns from whole images or from the white cells found on them, and how those are cut). Built from a preset
(keras_all/presets.py), a YAML file and overrides; a YAML file holds the same groups:

    preset: paper_all_idb
    run: {name: mine, folds: 5}
    fit: {epochs: 20}

A new stage's settings (the white-cell finder, slide verdicts) come as one more group in ``GROUPS``. This module
imports nothing of Keras, so that the command line checks a configuration before Keras starts.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from keras_all.checks import check_between, check_integer, is_integer
from keras_all.presets import preset_values
from keras_all.vocabulary import (
    BAGS,
    CONTROLS,
    CROP_PIXELS,
    CROP_RED_CELLS,
    DISTRIBUTIONS,
    FINALS,
    MAP_STORAGE,
    MODES,
    PAPER_WIDTHS,
    PROTOCOLS,
    RED_CELL_UM,
    SHOWN,
    UNITS,
)

STOP_ON = ("auc", "loss", "off")  # early stopping on the validation part's AUC or loss, or every epoch trained
# The settings left unset (None) take their protocol's value. The honest protocol's adapt to the data's size:
# up to 60 epochs, stopped on the validation AUC (best weights restored), batch-norm statistics that settle in
# tens of steps (momentum 0.9: after 60 steps 0.99's still hold 55% of their initial values) and re-estimated
# on un-augmented maps after training (experiments/README.md). The paper protocol keeps the paper's settings.
PROTOCOL_DEFAULTS = {
    "honest": {"fit.epochs": 60, "fit.stop_on": "auc", "model.bn_momentum": 0.9, "fit.recalibrate_bn": True},
    "paper": {"fit.epochs": 10, "fit.stop_on": "off", "model.bn_momentum": 0.99, "fit.recalibrate_bn": False},
}
SEED_LIMIT = 2**32 - 1  # NumPy's and Keras' seeds are unsigned 32-bit integers
DEFAULT_PRESET = "honest"


@dataclass(frozen=True)
class RunConfig:
    """The evaluation protocol and what the run delivers."""

    name: str = "run"  # names the run folder
    protocol: str = "honest"
    folds: int = 4
    test_fraction: float = 0.2  # the holdout test, split off before any fold
    seed: int = 0
    final: str = "refit"  # the delivered model: one refit on all development data, or the fold models' mean
    max_per_class: int | None = None  # a seeded class-balanced subsample of at most this many images per class
    paper_augment_factor: int = 4  # paper protocol: the pooled images times this, before splitting
    stress: bool = True  # honest protocol: the holdout re-scored under shifts of stain, light, focus and scale

    def __post_init__(self):
        if not isinstance(self.name, str) or not re.fullmatch(r"[\w.+-]+", self.name):
            raise ValueError(f"name={self.name!r}: use letters, digits, '.', '_', '+' or '-' (it names the run folder)")
        _check_choice("protocol", self.protocol, PROTOCOLS)
        _check_choice("final", self.final, FINALS)
        check_integer("folds", self.folds, 2)
        check_integer("paper_augment_factor", self.paper_augment_factor, 1)
        check_integer("seed", self.seed, 0, SEED_LIMIT)
        if self.max_per_class is not None:
            check_integer("max_per_class", self.max_per_class, 2)
        check_between("test_fraction", self.test_fraction, 0, 0.5)
        if not isinstance(self.stress, bool):
            raise ValueError(f"stress={self.stress!r}: must be true or false")


@dataclass(frozen=True)
class ModelConfig:
    """The bottleneck ResNet after the front."""

    widths: tuple = PAPER_WIDTHS  # [f1, f2, f3] per stage
    identity_blocks: int = 2  # per stage, after its convolutional block
    bn_momentum: float | None = None  # honest 0.9, paper 0.99

    def __post_init__(self):
        widths = self.widths
        if not isinstance(widths, list | tuple) or not widths or any(
                not isinstance(w, list | tuple) or len(w) != 3 or not all(is_integer(v) and v >= 1 for v in w)
                for w in widths):
            raise ValueError(f"widths={widths!r}: give one [f1, f2, f3] list of positive integers per stage, "
                             "e.g. [[32, 32, 64], [64, 64, 128], [64, 64, 256]]")
        object.__setattr__(self, "widths", tuple(tuple(w) for w in widths))
        check_integer("identity_blocks", self.identity_blocks, 0)
        if self.bn_momentum is not None:
            check_between("bn_momentum", self.bn_momentum, 0, 1, low_included=True)


@dataclass(frozen=True)
class FitConfig:
    """How each model is trained."""

    epochs: int | None = None  # most epochs per fold (honest 60, paper 10)
    stop_on: str | None = None  # early stopping on validation "auc" or "loss" (honest: auc), or "off" (paper)
    stop_patience: int = 10  # epochs without a better validation score before a fold stops
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_factor: float = 0.3  # ReduceLROnPlateau on the stopping score (validation accuracy where stop_on is off)
    lr_patience: int = 5  # epochs without a better stopping score before the rate is cut
    augment: bool = True  # online flips, 10% shifts, 20% zoom, 30 degree rotations on training batches
    balance: bool = True  # augmented copies of the minority class inside each training part
    recalibrate_bn: bool | None = None  # after training, batch-norm statistics re-estimated on un-augmented maps
    distribute: str = "none"  # mirrored: over every local device (GPUs); multi-worker: over machines
    maps: str = "auto"  # spike maps held in memory, or streamed from a float16 cache in the run folder (honest only)
    stain_jitter: float = 0.0  # each training batch's stain amounts within 1 +- this (layers.StainJitter); 0: off

    def __post_init__(self):
        if self.stop_on is False:  # YAML reads an unquoted `stop_on: off` as false
            object.__setattr__(self, "stop_on", "off")
        if self.stop_on is not None:
            _check_choice("stop_on", self.stop_on, STOP_ON)
        if self.epochs is not None:
            check_integer("epochs", self.epochs, 1)
        for name in ("batch_size", "lr_patience", "stop_patience"):
            check_integer(name, getattr(self, name), 1)
        for name in ("augment", "balance", "recalibrate_bn"):
            value = getattr(self, name)
            if not isinstance(value, bool) and not (name == "recalibrate_bn" and value is None):
                raise ValueError(f"{name}={value!r}: must be true or false")
        _check_choice("maps", self.maps, MAP_STORAGE)
        _check_choice("distribute", self.distribute, DISTRIBUTIONS)
        check_between("lr_factor", self.lr_factor, 0, 1)
        if self.stain_jitter != 0:
            check_between("stain_jitter", self.stain_jitter, 0, 1)
        check_between("learning_rate", self.learning_rate, 0, 1, high_included=True)


ZSCORE = ("pixel", "global")  # global: one mean and variance per channel
STAIN = ("none", "reinhard")  # reinhard: each image's colour statistics moved to a fixed target's


@dataclass(frozen=True)
class FrontConfig:
    """How raw images become the ResNet's input (the paper: 224 / 224 for ALL-IDB, 100 / 100 for C-NMC)."""

    spike_size: int = 224
    input_size: int = 224
    channels: int = 1
    mode: str = "first_spike"
    timesteps: int = 15
    blur_size: int = 9
    zscore: str = "pixel"  # per-pixel statistics (as StandardScaler on flattened images) or one per channel
    pca_components: int | float | None = None
    crop: float = 1.0  # the centred share of each side kept (0.8 drops the corners, where scale bars sit)
    stain: str = "none"  # stain normalisation before the maps: none, or reinhard (layers.ReinhardNormalization)

    def __post_init__(self):
        for name in ("spike_size", "input_size"):
            if not is_integer(getattr(self, name)) or getattr(self, name) < 8:
                raise ValueError(f"{name}={getattr(self, name)!r}: must be an integer of at least 8 pixels")
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r}: use one of {', '.join(MODES)}")
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise ValueError(f"channels={self.channels!r}: the ResNet takes 1 or 3 channels")
        if self.channels == 3 and self.map_channels != 1:
            raise ValueError(f"channels=3 repeats a one-channel map; mode {self.mode!r} has its own channels")
        check_integer("timesteps", self.timesteps, 1)
        if not is_integer(self.blur_size) or self.blur_size < 1 or self.blur_size % 2 == 0:
            raise ValueError(f"blur_size={self.blur_size!r}: must be an odd integer of at least 1 (9 in the paper)")
        k = self.pca_components
        if k is not None and not (is_integer(k) and k >= 1 or isinstance(k, float) and 0 < k < 1):
            raise ValueError(f"pca_components={k!r}: give a count of at least 1 or a variance fraction in (0, 1)")
        if not (isinstance(self.crop, int | float) and not isinstance(self.crop, bool) and 0.2 <= self.crop <= 1):
            raise ValueError(f"crop={self.crop!r}: the share of each side kept, centred, lies in [0.2, 1]")
        if self.zscore not in ZSCORE:
            raise ValueError(f"zscore={self.zscore!r}: use one of {', '.join(ZSCORE)}")
        if self.stain not in STAIN:
            raise ValueError(f"stain={self.stain!r}: use one of {', '.join(STAIN)}")

    @property
    def image_size(self) -> int:
        """The side raw images are resized to (by area averaging) before the centre crop leaves ``spike_size``."""
        return self.spike_size if self.crop == 1 else round(self.spike_size / self.crop)

    @property
    def map_channels(self) -> int:
        return {"first_spike": 1, "latency": 4, "spike_wave": 4 * self.timesteps, "gray": 1, "rgb": 3,
                "first_spike_rgb": 3, "rgb_first_spike": 4, "rgb_spike_wave": 3 + 4 * self.timesteps}[self.mode]

    @property
    def model_channels(self) -> int:
        """Channels of the ResNet's input: the one map repeated ``channels`` times, or the mode's own."""
        return self.channels if self.map_channels == 1 else self.map_channels

    def to_dict(self) -> dict:
        return asdict(self)


@dataclasses.dataclass(frozen=True)
class CellConfig:
    """What a run learns from (``unit``: whole images, or the white cells found on them) and, for cells, the
    crop's side in red cells and its pixels, what a crop shows (``all``; the ``cell`` alone or the
    ``background`` alone), the scale (None: measured from the red cells), and the pipeline controls a cell run
    trains beside its model by the same splits (``controls``: crops of the cell alone, of the background alone,
    and the whole fields)."""

    unit: str = "image"
    side: float = CROP_RED_CELLS
    pixels: int = CROP_PIXELS
    show: str = "all"
    um_per_px: float | None = None
    controls: tuple = CONTROLS
    bags: str = "best"
    top_share: float = 0.25

    def __post_init__(self):
        if self.unit not in UNITS:
            raise ValueError(f"unit={self.unit!r}: use one of {', '.join(UNITS)}")
        check_between("side", self.side, 0.5, 10, low_included=True, high_included=True)
        check_integer("pixels", self.pixels, 16, 1024)
        if self.show not in SHOWN:
            raise ValueError(f"show={self.show!r}: use one of {', '.join(SHOWN)}")
        if self.um_per_px is not None:  # a red cell of 4 to 2,000 pixels, as Scale takes
            check_between("um_per_px", self.um_per_px, RED_CELL_UM / 2000, RED_CELL_UM / 4, True, True)
        controls = self.controls
        if not isinstance(controls, list | tuple) or len(set(controls)) != len(controls) or any(
                c not in CONTROLS for c in controls):
            raise ValueError(f"controls={controls!r}: give a list of distinct names out of {', '.join(CONTROLS)} "
                             "(or [] for none)")
        object.__setattr__(self, "controls", tuple(controls))
        if self.bags not in BAGS:
            raise ValueError(f"bags={self.bags!r}: use one of {', '.join(BAGS)}")
        check_between("top_share", self.top_share, 0, 1, high_included=True)

    @property
    def crop_controls(self) -> tuple[str, ...]:
        """The controls that are crops (the others train on whole fields)."""
        return tuple(c for c in self.controls if c != "image")


GROUPS = {"run": RunConfig, "model": ModelConfig, "front": FrontConfig, "fit": FitConfig, "cells": CellConfig}
HOME = {f.name: group for group, kind in GROUPS.items() for f in dataclasses.fields(kind)}  # each key's group


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on besides the data, in five groups. Settings the protocol decides
    (``PROTOCOL_DEFAULTS``) and left unset take its values; ``load_config`` starts from the ``honest`` preset."""

    run: RunConfig = field(default_factory=RunConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    front: FrontConfig = field(default_factory=FrontConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    cells: CellConfig = field(default_factory=CellConfig)

    def __post_init__(self):
        for group, kind in GROUPS.items():
            if not isinstance(getattr(self, group), kind):
                raise ValueError(f"{group}={getattr(self, group)!r}: must be a {kind.__name__}")
        for key, value in PROTOCOL_DEFAULTS[self.run.protocol].items():
            group, name = key.split(".")
            if getattr(getattr(self, group), name) is None:
                object.__setattr__(self, group, dataclasses.replace(getattr(self, group), **{name: value}))
        if self.fit.stain_jitter and (self.run.protocol == "paper" or self.fit.maps == "stream"):
            raise ValueError("fit.stain_jitter: a jittered batch is mapped as it is drawn, so the run holds images in "
                             "memory under the honest protocol; use protocol: honest and maps: auto or memory")
        if self.fit.maps == "stream" and self.run.protocol == "paper":
            raise ValueError("fit.maps=stream: the paper protocol pools augmented copies of every map in memory; "
                             "stream under the honest protocol, or use maps: memory")

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["model"]["widths"] = [list(w) for w in self.model.widths]
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def with_values(self, changes: dict) -> TrainConfig:
        """A copy with ``changes`` (keys ``group.setting``, as ``load_config``'s overrides) applied and checked."""
        return from_dict(_merged(self.to_dict(), _grouped(changes, "changes")), "changes")


def from_dict(values: dict, source: str = "config") -> TrainConfig:
    """A TrainConfig from a (possibly partial) mapping of groups; a key outside its group, or unknown, is an error
    naming it and, where it has one, the group it belongs in."""
    values = dict(values or {})
    groups = {}
    for key in sorted(set(values) - set(GROUPS)):
        if key in HOME:
            raise ValueError(f"{source}: {key} belongs in {HOME[key]}; write {HOME[key]}: {{{key}: ...}}")
        raise ValueError(f"{source}: unknown key {key}; a configuration holds the groups {', '.join(GROUPS)}")
    for group, kind in GROUPS.items():
        settings = values.get(group) or {}
        if not isinstance(settings, dict):
            raise ValueError(f"{source}: {group}={settings!r}: give a mapping of {group} settings, e.g. "
                             f"{group}: {{{dataclasses.fields(kind)[0].name}: ...}}")
        known = {f.name for f in dataclasses.fields(kind)}
        for key in sorted(set(settings) - known):
            if key in HOME:
                raise ValueError(f"{source}: {group}.{key} belongs in {HOME[key]}; write {HOME[key]}: {{{key}: ...}}")
            raise ValueError(f"{source}: unknown key {group}.{key}; {group} takes {', '.join(sorted(known))}")
        groups[group] = _build(kind, settings, group)
    return TrainConfig(**groups)


def load_config(path: str | Path | None = None, overrides: dict | None = None,
                preset: str | None = None) -> TrainConfig:
    """A TrainConfig from, in order: a preset (``honest`` unless one is named), the YAML file at ``path``, and the
    non-None ``overrides`` (keys ``group.setting``, e.g. ``fit.epochs``).

    The YAML file may name its own starting preset (``preset: paper_all_idb``) and then hold only what
    differs; ``preset`` and a file's own preset may not both be given.
    """
    values: dict = {}
    if path is not None:
        try:
            values = yaml.safe_load(Path(path).read_text()) or {}
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not a text file; give a YAML configuration as --config") from None
        except (OSError, yaml.YAMLError) as err:
            raise ValueError(f"{path}: cannot read the configuration ({err})") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of settings, found {type(values).__name__}")
        if "preset" in values and preset is not None:
            raise ValueError(f"{path}: names preset {values['preset']!r}; give --preset or a file with its own "
                             "preset, not both")
        preset = values.pop("preset", preset)
    source = str(path or preset or DEFAULT_PRESET)
    changes = {key: value for key, value in (overrides or {}).items() if value is not None}
    values = _merged(_merged(preset_values(preset or DEFAULT_PRESET), values), _grouped(changes, "overrides"))
    return from_dict(values, source)


def _build(kind, settings: dict, group: str):
    """``kind(**settings)``; an error names the setting with its group (``fit.epochs=0: ...``)."""
    try:
        return kind(**settings)
    except ValueError as err:
        raise ValueError(f"{group}.{err}") from None


def _check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r}: use one of {', '.join(choices)}")


def _grouped(changes: dict, source: str) -> dict:
    """``{"fit.epochs": 3}`` -> ``{"fit": {"epochs": 3}}``; a key without its group is an error naming it."""
    out: dict = {}
    for key, value in changes.items():
        group, _, name = key.partition(".")
        if not name:
            where = f"{HOME[key]}.{key}" if key in HOME else "group.setting"
            raise ValueError(f"{source}: {key}: name it with its group, as {where}")
        out.setdefault(group, {})[name] = value
    return out


def _merged(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` on top, each group's settings merged key by key."""
    merged = {**base, **changes}
    for group, settings in changes.items():
        if isinstance(settings, dict) and isinstance(base.get(group), dict):
            merged[group] = {**base[group], **settings}
    return merged
