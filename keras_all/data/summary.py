"""What a loaded data set holds: counts, subjects, sizes, duplicates and left-out files."""

from __future__ import annotations

from . import LoadedDataset

SHOWN_LEFT_OUT = 20  # files named per reason in the text summary (the JSON names them all)


def summarize(data: LoadedDataset) -> dict:
    """A JSON-ready summary of ``data``."""
    samples, dups = data.samples, data.duplicates
    known = samples[samples["subject"] != ""]
    sizes = (samples["width"].astype(str) + "x" + samples["height"].astype(str)) if "width" in samples else None
    return {
        "dataset": data.name,
        "root": data.root,
        "images": int(len(samples)),
        "per_label": {str(k): int(v) for k, v in samples["label"].value_counts().sort_index().items()},
        "per_class": {str(k): int(v) for k, v in samples["class_name"].value_counts().sort_index().items()},
        "subjects": {
            "known": bool(len(known)),
            "total": int(known["subject"].nunique()),
            "per_label": {str(k): int(v) for k, v in known.groupby("label")["subject"].nunique().items()},
            "groups_joined_by_duplicates": sorted(g for g in samples["subject_group"].unique() if "+" in g),
        },
        "image_sizes": {} if sizes is None else {k: int(v) for k, v in sizes.value_counts().items()},
        "duplicates": {
            "groups": int(data.duplicate_groups),
            "copies_dropped": int(len(dups)),
            "across_subjects": int((dups["kept_subject"] != dups["dropped_subject"]).sum()),
            "conflicting_labels": int(dups.loc[dups["kept_label"] != dups["dropped_label"], "sha256"].nunique()),
        },
        "bad_files": data.bad_files.to_dict("records"),
        "ignored_files": int(len(data.ignored)),
        "ignored_reasons": {str(k): int(v) for k, v in data.ignored["reason"].value_counts().items()},
        "ignored": data.ignored.to_dict("records"),
        "subsample_of": data.subsample_of,
        "cells_of": data.cells_of,
    }


def format_summary(summary: dict) -> str:
    """The summary as an aligned plain-text table."""
    subjects = summary["subjects"]
    dups = summary["duplicates"]
    lines = [
        ("dataset", summary["dataset"]),
        ("root", summary["root"]),
        ("images", summary["images"]),
        *((f"  label {k}", v) for k, v in summary["per_label"].items()),
        *((f"  class {k}", v) for k, v in summary["per_class"].items()),
        ("subjects", subjects["total"] if subjects["known"] else "unknown"),
        *((f"  subjects with label {k}", v) for k, v in subjects["per_label"].items()),
        *(("  joined by duplicates", g) for g in subjects["groups_joined_by_duplicates"]),
        *((f"  size {k}", v) for k, v in summary["image_sizes"].items()),
        ("duplicate groups", dups["groups"]),
        ("  copies dropped", dups["copies_dropped"]),
        ("  across subjects", dups["across_subjects"]),
        ("  with conflicting labels (all copies dropped)", dups["conflicting_labels"]),
        ("bad files skipped", len(summary["bad_files"])),
        *((f"  {b['path']}", b["reason"]) for b in summary["bad_files"]),
        ("files left out (no label, not images, links that lead nowhere)", summary["ignored_files"]),
        *_left_out_lines(summary["ignored"]),
    ]
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k:<{width}}  {v}".rstrip() for k, v in lines)


def by_reason(left_out: list[dict], shown: int) -> list[tuple[str, int, list[str]]]:
    """Files left out (records of path and reason) grouped by reason, in the order first met: each reason, how many
    files it holds, and the first ``shown`` of them."""
    groups: dict[str, list[str]] = {}
    for entry in left_out:
        groups.setdefault(entry["reason"], []).append(entry["path"])
    return [(reason, len(paths), paths[:shown]) for reason, paths in groups.items()]


def _left_out_lines(ignored: list[dict]) -> list[tuple[str, object]]:
    """Each reason with its count, and the files under it by name (the first ``SHOWN_LEFT_OUT``)."""
    lines = []
    for reason, count, paths in by_reason(ignored, SHOWN_LEFT_OUT):
        lines += [(f"  {reason}", count), *((f"    {path}", "") for path in paths)]
        if count > len(paths):
            lines.append((f"    and {count - len(paths)} more (--json lists every one)", ""))
    return lines
