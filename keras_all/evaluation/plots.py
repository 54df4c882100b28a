"""PNG figures (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _show(axis, image, title):
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] not in (1, 3):
        image = image.mean(axis=-1)  # several spike channels: their mean
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.dtype != np.uint8 and (image.min() < 0 or image.max() > 1):  # z-scored colour
        image = (image - image.min()) / (float(np.ptp(image)) or 1.0)
    if image.ndim == 2:
        limit = float(np.abs(image).max()) or 1.0
        signed = image.min() < 0
        axis.imshow(image, cmap="RdBu_r" if signed else "gray", vmin=-limit if signed else 0, vmax=limit)
    else:
        axis.imshow(image)
    axis.set_title(title, fontsize=9)
    axis.axis("off")


def preprocessing_figure(rows: list[dict], path: str | Path, caption: str = "") -> Path:
    """One row per image, one column per stage (each row's keys after ``title``, the first "original"):
    for the spike front the original, spike map, blurred map and model input (the paper's Fig. 3)."""
    stages = [key for key in rows[0] if key != "title"]
    figure, axes = plt.subplots(len(rows), len(stages), figsize=(2.4 * len(stages), 2.5 * len(rows)), squeeze=False)
    for axis_row, row in zip(axes, rows):
        for axis, stage in zip(axis_row, stages):
            _show(axis, row[stage], f"{stage}\n{row['title']}" if stage == "original" else stage)
    if caption:
        figure.suptitle(caption, fontsize=9)
    return _save(figure, path)


def confusion_plot(counts: dict, path: str | Path, title: str) -> Path:
    """2x2 confusion matrix (rows: true class, columns: predicted), counts and row shares."""
    matrix = np.array([[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]])
    figure, axis = plt.subplots(figsize=(3.6, 3.2))
    axis.imshow(matrix, cmap="Blues")
    for (row, col), value in np.ndenumerate(matrix):
        share = value / max(matrix[row].sum(), 1)
        axis.text(col, row, f"{value}\n({share:.0%})", ha="center", va="center",
                  color="white" if value > matrix.max() / 2 else "black")
    axis.set_xticks([0, 1], ["Normal", "Cancer"])
    axis.set_yticks([0, 1], ["Normal", "Cancer"])
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title, fontsize=9)
    return _save(figure, path)


def roc_plot(labels, probabilities, path: str | Path, title: str, cutoff: float | None = None) -> Path:
    """ROC curve with its AUC; the operating point at ``cutoff`` marked."""
    from sklearn.metrics import roc_auc_score, roc_curve

    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    figure, axis = plt.subplots(figsize=(3.6, 3.4))
    if len(np.unique(labels)) == 2:
        fpr, tpr, _ = roc_curve(labels, probabilities)
        axis.plot(fpr, tpr, lw=1.5, label=f"AUC {roc_auc_score(labels, probabilities):.3f}")
        if cutoff is not None:
            predicted = probabilities >= cutoff
            point = (predicted[labels == 0].mean(), predicted[labels == 1].mean())
            axis.plot(*point, "o", color="crimson", label=f"cut-off {cutoff:.3f}")
    axis.plot([0, 1], [0, 1], ":", color="gray", lw=1)
    axis.set_xlabel("1 - specificity")
    axis.set_ylabel("sensitivity")
    axis.set_title(title, fontsize=9)
    axis.legend(loc="lower right", fontsize=8)
    return _save(figure, path)


def training_curves(logs: dict, path: str | Path) -> Path:
    """Accuracy and loss per epoch for every fold (the paper's Figs. 9-12); ``logs``: name -> CSV log frame."""
    figure, (accuracy, loss) = plt.subplots(1, 2, figsize=(8, 3.2))
    for (name, log), colour in zip(logs.items(), plt.cm.tab10.colors):
        epochs = log["epoch"] + 1
        accuracy.plot(epochs, log["accuracy"], color=colour, label=f"{name} train")
        loss.plot(epochs, log["loss"], color=colour)
        if "val_accuracy" in log and log["val_accuracy"].notna().any():  # Keras logs NA without validation
            accuracy.plot(epochs, log["val_accuracy"], "--", color=colour, label=f"{name} validation")
            loss.plot(epochs, log["val_loss"], "--", color=colour)
    accuracy.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    loss.set(xlabel="epoch", ylabel="loss", title="loss")
    accuracy.legend(fontsize=6, ncol=2)
    return _save(figure, path)


def saliency_plot(images, influence, captions: list[str], path: str | Path) -> Path:
    """Each image above itself overlaid with its influence map (stretched over it), one column per image."""
    figure, axes = plt.subplots(2, len(captions), figsize=(2.6 * len(captions), 5.4), squeeze=False)
    for k, (image, heat, caption) in enumerate(zip(images, influence, captions)):
        axes[0, k].imshow(image)
        axes[0, k].set_title(caption, fontsize=8)
        axes[1, k].imshow(image)
        axes[1, k].imshow(heat, cmap="inferno", alpha=0.6, extent=(0, image.shape[1], image.shape[0], 0))
        axes[1, k].set_title("integrated gradients", fontsize=8)
    for axis in axes.ravel():
        axis.axis("off")
    return _save(figure, path)


def stress_plot(result: dict, strengths: tuple[str, ...], path: str | Path) -> Path:
    """A stress test's AUC against strength, one panel per shift: the model solid, the colour histogram dashed."""
    shifts = list(result["settings"])
    figure, axes = plt.subplots(2, (len(shifts) + 1) // 2, figsize=(3 * ((len(shifts) + 1) // 2), 5.6),
                                sharey=True, squeeze=False)
    for axis, shift in zip(axes.flat, shifts):
        rows = [row for row in result["shifts"] if row["shift"] == shift]
        for who, style in (("model", "-o"), ("baseline", "--s")):
            if result["unshifted"][who] is None:
                continue
            auc = [result["unshifted"][who]["auc"], *(row[who]["auc"] for row in rows)]
            axis.plot(range(len(auc)), [np.nan if a is None else a for a in auc], style,
                      label="model" if who == "model" else "colour histogram")
        axis.set_xticks(range(len(strengths) + 1), ["none", *strengths], fontsize=7)
        axis.set_title(shift, fontsize=9)
        axis.grid(alpha=0.3)
    for axis in axes.flat[len(shifts):]:
        axis.axis("off")
    axes.flat[0].set_ylabel("holdout AUC")
    axes.flat[0].legend(fontsize=7)
    figure.suptitle(f"Stress test: {result['n']} images, seed {result['seed']}", fontsize=10)
    return _save(figure, path)


def _save(figure, path) -> Path:
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
