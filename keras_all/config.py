"""Run configuration, grouped by concern: ``run`` (the protocol and what the run delivers), ``model`` (the ResNet),
``front`` (raw image -> the ResNet's input), ``fit`` (how each model is trained) and ``cells`` (whether a run
learns from whole images or from the white cells found on them, and how those are cut). Built from a preset
(keras_all/presets.py), a YAML file and overrides; a YAML file holds the same groups:

    preset: paper_all_idb
    run: {name: mine, folds: 5}
    fit: {epochs: 20}

A new stage's settings (the white-cell finder, slide verdicts) come as one more group in ``GROUPS``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from keras_all.checks import check_between, check_integer, is_integer
from keras_all.fields.cell_data import CellConfig
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
    "honest": {"fit.epochs": 60, "fit.stop_on": "auc", "model.bn_momentum": 0.9, "fit.recalibrate_bn": True},
    "paper": {"fit.epochs": 10, "fit.stop_on": "off", "model.bn_momentum": 0.99, "fit.recalibrate_bn": False},
}
FINALS = ("refit", "ensemble")
SEED_LIMIT = 2**32 - 1  # NumPy's and Keras' seeds are unsigned 32-bit integers
DISTRIBUTIONS = ("none", "mirrored", "multi-worker")
MAP_STORAGE = ("auto", "memory", "stream")  # auto: stream where the maps would take over 1/8 of the memory
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
