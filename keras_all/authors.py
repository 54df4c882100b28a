"""The authors' released weights (Keras 2 ``.h5``, ALL-IDB and C-NMC) as a keras-all model folder.

The files hold the ResNet only. It was trained on maps that went through the paper's front (first-spike
map, 9x9 blur, 3 channels) and a z-score and PCA fitted on the authors' own augmented pool of images,
which were not released. So the import writes the ResNet as it is (``resnet.keras``, standardized maps
in) and, given a data set, fits that z-score and PCA on it and writes a model that takes raw images
(``model.keras``), which `keras-all predict` and `keras-all evaluate` read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from keras_all.artifacts import CONFIG_YAML, MODEL_CARD_MD, MODEL_KERAS, RESNET_KERAS
from keras_all.config import TrainConfig
from keras_all.data import LoadedDataset
from keras_all.front import FrontConfig, Standardizer
from keras_all.models import SpikeResNetClassifier, build_resnet, load_legacy_weights
from keras_all.models.legacy_weights import read_legacy_weights, stored_layer
from keras_all.training.arrays import spike_maps
from keras_all.whole_folder import require_new_folder, written_whole


@dataclass(frozen=True)
class Release:
    dataset: str
    size: int  # spike-map and input size
    pca_components: int


RELEASES = {12544: Release("ALL-IDB", 224, 1200), 2304: Release("C-NMC", 100, 500)}  # by fc2's input width


def identify(path: str | Path, stored: dict) -> tuple[Release, int]:
    """Which release the file at ``path`` (read as ``stored``) is, by its classifier's input width, and
    its input channels."""
    fc, conv1 = stored_layer(stored, "fc"), stored_layer(stored, "conv1")
    if fc is None or conv1 is None or fc["kernel"].shape[0] not in RELEASES:
        widths = "none" if fc is None else fc["kernel"].shape[0]
        raise ValueError(f"{path}: not one of the authors' released weight files (classifier input width {widths}; "
                         "theirs are 12544 for ALL-IDB at 224 px and 2304 for C-NMC at 100 px)")
    return RELEASES[fc["kernel"].shape[0]], int(conv1["kernel"].shape[2])


def import_weights(path: str | Path, out: str | Path, data: LoadedDataset | None = None, seed: int = 0,
                   echo=print) -> Path:
    """Import one of the authors' released weight files.

    Args:
        path: their ALL-IDB or C-NMC ``model.h5``.
        out: the folder to write (atomically): resnet.keras, config.yaml, MODEL_CARD.md.
        data: a data set on which to fit the z-score and PCA the weights expect; with it, model.keras (a
            ``SpikeResNetClassifier`` taking raw images) is written too.
        seed: the PCA fit's seed.
        echo: where progress lines go.

    Returns:
        The folder written.
    """
    path, out = Path(path), require_new_folder(out)  # before the weights are read
    stored = read_legacy_weights(path)
    release, channels = identify(path, stored)
    front = FrontConfig(spike_size=release.size, input_size=release.size, channels=channels,
                        pca_components=release.pca_components)
    resnet = build_resnet((release.size, release.size, channels))
    load_legacy_weights(resnet, path, stored)
    with written_whole(out) as partial:
        resnet.save(partial / RESNET_KERAS)
        fitted_on = None
        if data is not None:
            echo(f"fitting the z-score and PCA on {len(data.samples)} images of {data.name}")
            maps = spike_maps(data.samples["path"], front)
            standardizer = Standardizer(front, seed).fit(maps)
            classifier = SpikeResNetClassifier.from_config_of(TrainConfig(front=front), standardizer)
            load_legacy_weights(classifier.resnet(), path, stored)
            classifier.save(partial / MODEL_KERAS)
            fitted_on = (data.name, data.root, len(maps), standardizer.n_components_ or 0)
        (partial / CONFIG_YAML).write_text(yaml.safe_dump({"front": front.to_dict()}, sort_keys=False))
        (partial / MODEL_CARD_MD).write_text(model_card(path, release, channels, front, fitted_on))
    return out


def model_card(path: Path, release: Release, channels: int, front: FrontConfig, fitted_on) -> str:
    size = release.size
    if fitted_on is None:
        usable = ("Only `resnet.keras` was written: run `keras-all import-weights` again with `--dataset` and "
                  "`--data-dir` to fit the z-score and PCA on your images and get a model that takes raw images.")
    else:
        name, root, n, k = fitted_on
        usable = (f"`model.keras` takes raw uint8 RGB images. Its z-score and PCA ({k} components) were fitted on "
                  f"{n} images of `{name}` at `{root}`, as the authors fitted theirs on all their images. Scores "
                  "on those same images are therefore optimistic, and a cut-off of 0.5 was not validated.")
    return f"""# Model card: the authors' released {release.dataset} weights

Imported from `{path.name}` (Noshad & Fallahi 2021; Keras 2 weights for {size}x{size}x{channels} input).
The file carries no licence: do not redistribute it.

## What the weights expect
{size}x{size}x{channels} maps made as in the paper: 8-bit luma, FirstSpikeGabor `first_spike` at {size} px
(4 Gabor orientations, the first of 15 latency bins), 9x9 Gaussian blur, z-score per pixel and PCA
reconstruction from {release.pca_components} components, the map repeated over {channels} channels.
The authors fitted the z-score and PCA on their augmented pool of images (test images included) and
did not release them. Output: a softmax over two classes; keras-all reads index 1 as ALL (label 1 in
ALL-IDB's file names and C-NMC's labels). The weight files do not record the class order: check it on
a few images of known class before trusting a score.

## This folder
- `resnet.keras`: the ResNet with the released weights (standardized maps in).
- `config.yaml`: the front configuration above.
- {usable}

## Limitations
- **Not a diagnostic device.** The published accuracies come from a leaky protocol (augmented copies
  of one image in training and test, statistics fitted on the test images); expect far less on new data.
- Stain, scanner and magnification shifts change the maps; validate locally before any use.
"""
