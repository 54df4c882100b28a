"""Named configurations shipped inside the package, as keras-hub keeps its ``*_presets.py``.

Each preset is a partial ``TrainConfig``, grouped as a YAML configuration is (the rest are its defaults), with
metadata: what it is and the
ResNet's parameter count at its input shape. ``keras-all train --preset NAME`` and
``SpikeResNetClassifier.from_preset(NAME)`` read them from any working directory; a YAML file given to
``--config`` may start from one with ``preset: NAME``.
"""

from __future__ import annotations

# The paper's training, as published (every epoch trained, batch-norm statistics as learnt), under the honest protocol.
PAPER = {"fit": {"epochs": 10, "batch_size": 32, "learning_rate": 1e-3, "lr_factor": 0.3, "stop_on": "off",
                 "recalibrate_bn": False},
         "model": {"bn_momentum": 0.99}}


def _paper(name: str, size: int, pca_components: int, params: int, description: str) -> dict:
    """One of the paper's two models: first-spike maps at ``size``, 3 channels, PCA, the paper's training."""
    front = {"spike_size": size, "input_size": size, "channels": 3, "mode": "first_spike",
             "pca_components": pca_components}
    return {"metadata": {"description": description, "params": params},
            "config": {"run": {"name": name, "protocol": "honest", "folds": 4}, **PAPER, "front": front}}


PRESETS = {
    "paper_all_idb": _paper(
        "paper-all-idb", 224, 1200, 489_922,
        "The paper's ALL-IDB model (Noshad & Fallahi 2021, reconciled with the authors' code): first-spike maps "
        "at 224x224, 3 channels, PCA 1,200 components; 4 folds of 10 epochs, Adam 1e-3, batch 32, "
        "ReduceLROnPlateau(0.3). Trained under the honest protocol."),
    "paper_c_nmc": _paper(
        "paper-c-nmc", 100, 500, 469_442,
        "The paper's C-NMC model: as paper_all_idb at 100x100 with PCA 500 components."),
    "honest": {
        "metadata": {
            "description": "The default, the configuration the experiments chose: the colour image with its "
                           "first-spike map beside it (rgb_first_spike) at 224x224, no PCA, honest protocol "
                           "(subject-grouped holdout and folds, everything fitted per fold) and its adaptive training "
                           "(early stopping on the validation AUC, recalibrated batch norm).",
            "params": 493_058,
        },
        "config": {"run": {"name": "run"}, "front": {"mode": "rgb_first_spike"}},
    },
    "demo": {
        "metadata": {
            "description": "`keras-all demo`: spike maps at 128, a 64x64 one-channel input, at most 20 epochs under "
                           "the honest protocol's adaptive training; a few minutes on a 2-core CPU.",
            "params": 460_610,
        },
        "config": {"run": {"name": "demo"}, "fit": {"epochs": 20}, "model": {"bn_momentum": 0.9},
                   "front": {"spike_size": 128, "input_size": 64, "mode": "first_spike"}},
    },
}


def preset_values(name: str) -> dict:
    """The preset's settings (a fresh copy); an unknown name is an error listing the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: use one of {', '.join(PRESETS)} (`keras-all presets` lists them)")
    return {group: dict(settings) for group, settings in PRESETS[name]["config"].items()}
