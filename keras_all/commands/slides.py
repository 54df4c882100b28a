"""`keras-all slides`: every white cell of every slide scored by a cell model, counted, and shown, written whole.

- ``slides.csv``: a row per slide: white cells, the cells called blasts (at or above the model's cell cut-off) and
  their share, the slide's probability and whether its rule calls it ALL (the slide's decision: a slide rule may
  call a slide of blasts not ALL, and the reverse), whether the model trained on its cells, its label where known,
  and whether it could be judged (a blank or grayscale picture is no stained smear: it is named in a warning and a
  note, holds no verdict and is left out of every figure);
- ``cells.csv``: every cell with its box and P(blast);
- ``overlays/``: each slide with its cells outlined, coloured from green (P 0) to red (P 1);
- ``index.html``: one page, its pictures inside it: the slides by probability, each with its overlay, counts and
  its most blast-like cells enlarged;
- for a labelled data set, ``metrics.json`` and ``report.md``: slide accuracy, sensitivity, specificity and AUC with
  intervals; cell metrics where the cells' own labels are known (a cell holding a marked blast centroid is a blast,
  ALL-IDB1's; every cell of a healthy slide is not; a single cell cut out on black, C-NMC's, takes its image's
  label; a cell of an ALL field that is not marked cell by cell has no label of its own); and where centroids are
  marked, blasts counted against them per slide. Slides the model trained on are left out of all of them.

Each slide is judged by ``SlideJudge`` (``slide_judge``), the path Python users take too.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from keras_all import interruption
from keras_all.artifacts import CELLS_CSV, INDEX_HTML, METRICS_JSON, REPORT_MD, SLIDES_CSV
from keras_all.cells.field import for_field, measured_scales, median_scale
from keras_all.cells.finder import FoundCells
from keras_all.cells.overlay import write_rgb
from keras_all.cells.scale import Scale
from keras_all.data.io import read_image
from keras_all.evaluation.slide_judge import SlideJudge
from keras_all.metrics import binary_metrics
from keras_all.run_folder import write_json
from keras_all.tables import markdown_table, with_ci
from keras_all.whole_folder import written_whole

CELL_COLUMNS = ["slide", "cell", "x0", "y0", "x1", "y1", "p_blast", "blast", "at_border", "label"]
SLIDE_COLUMNS = ["slide", "judged", "white_cells", "cells_called_blasts", "share_called_blasts", "probability",
                 "slide_called_all", "trained_on", "note"]
SHOWN_CELLS = 4  # the most blast-like cells enlarged on the page, per slide
THUMBNAIL = 320  # pixels across a slide's picture on the page
CELL_PICTURE = 96  # pixels across an enlarged cell on the page
PAGE_PICTURES = 200  # slides whose pictures the page holds (the most probable); the others link to their overlay


@dataclass(frozen=True)
class Judging:
    """How slides are judged: each searched at ``scale`` if given, else at its own red cells' where they are sure of
    it, else at the median of the slides'; ``trained``, the resolved paths of the fields whose cells the model
    trained on (marked, and left out of the metrics)."""

    scale: Scale | None = None
    trained: frozenset[str] = frozenset()
    on_bad_image: str = "skip"


def score_slides(slides: pd.DataFrame, judge: SlideJudge, output: Path, judging: Judging = Judging(),
                 echo: Callable[[str], None] = print, warn: Callable[[str], None] = print) -> dict:
    """Judge the slides (a table with ``path``, and ``label`` and ``points`` where known) with ``judge`` and write
    the folder ``output``; returns the counts and metrics."""
    paths = slides["path"].tolist()
    estimates, unreadable = measured_scales(paths, echo, warn, judging.on_bad_image)
    if not estimates:
        raise ValueError(f"none of the {len(paths)} files is a readable image (the warnings above say why)")
    median = judging.scale if judging.scale is not None else median_scale(estimates)
    rows, cell_rows, pictures = [], [], []
    with written_whole(output) as partial:
        (partial / "overlays").mkdir()
        for number, slide in enumerate(slides.itertuples(index=False), start=1):
            interruption.check()
            if slide.path in unreadable:
                continue
            image = read_image(slide.path)
            verdict = judge(image, judging.scale or for_field(estimates[slide.path], median))
            row = _slide_row(slide, verdict, judging.trained)
            if not verdict.judged:
                warn(f"warning: {slide.path}: {verdict.why_not_judged}; no verdict, and it is left out of the figures")
            rows.append(row)
            cell_rows += _cell_rows(slide, verdict)
            overlay = verdict.overlay(image)
            name = f"{number:05d}_{Path(slide.path).stem}.jpg"
            write_rgb(partial / "overlays" / name, overlay)
            shown = np.argsort(-verdict.p_blast)[:SHOWN_CELLS]
            pictures.append((row, name, _jpeg(overlay, THUMBNAIL), [(_jpeg(verdict.crops[i], CELL_PICTURE),
                                                                     float(verdict.p_blast[i])) for i in shown]))
            if number % 20 == 0 or number == len(slides):
                echo(f"slides {number}/{len(slides)} scored")
        return _written(partial, slides, (rows, cell_rows, pictures), judge, len(unreadable))


def _slide_row(slide, verdict, trained: frozenset[str]) -> dict:
    counted = verdict.judged  # a picture that cannot be judged has no cells to count
    row = {"slide": slide.path, "judged": counted, "white_cells": verdict.white_cells if counted else None,
           "cells_called_blasts": verdict.blasts if counted else None,
           "share_called_blasts": verdict.blast_fraction, "probability": verdict.probability,
           "slide_called_all": verdict.decision, "trained_on": str(Path(slide.path).resolve()) in trained,
           "note": verdict.why_not_judged}
    if hasattr(slide, "label"):
        row["label"] = int(slide.label)
    if hasattr(slide, "points"):
        row["marked_blasts"] = len(slide.points) if isinstance(slide.points, list) else 0
    return row


def _cell_rows(slide, verdict) -> list[dict]:
    found = verdict.cells
    return [{"slide": slide.path, "cell": k, "x0": b[0], "y0": b[1], "x1": b[2], "y1": b[3], "p_blast": float(p),
             "blast": int(c), "at_border": bool(e), "label": y}
            for k, (b, p, c, e, y) in enumerate(zip(found.boxes, verdict.p_blast, verdict.blast, found.at_border,
                                                    cell_labels(slide, found)), start=1)]


def _written(partial: Path, slides: pd.DataFrame, tally: tuple, judge: SlideJudge, left_out: int) -> dict:
    """slides.csv, cells.csv, index.html and, for labelled slides, metrics.json and report.md written from ``tally``
    (the slides' rows, the cells' rows, the page's pictures); the counts."""
    rows, cell_rows, pictures = tally
    known = ["label"] * ("label" in slides) + ["marked_blasts"] * ("points" in slides)
    table = pd.DataFrame(rows, columns=[*SLIDE_COLUMNS, *known])
    table = table.astype({"slide_called_all": "Int64", "white_cells": "Int64", "cells_called_blasts": "Int64"})
    table.sort_values("probability", ascending=False).to_csv(partial / SLIDES_CSV, index=False)
    cell_table = pd.DataFrame(cell_rows, columns=CELL_COLUMNS)
    cell_table.to_csv(partial / CELLS_CSV, index=False)
    (partial / INDEX_HTML).write_text(render_page(pictures, judge.cutoff, judge.rule_text, judge.rule_line))
    not_judged = int((~table["judged"].astype(bool)).sum())
    judged = table[table["judged"].astype(bool)]
    result = _metrics(judged, judge.rule["cutoff"], left_out, not_judged, judge.rule_text)
    if result is not None and result["slides"] is not None:
        result["cells"] = _cell_metrics(cell_table, judged, judge.cutoff)
    if result is not None:
        write_json(partial / METRICS_JSON, result)
        (partial / REPORT_MD).write_text(render_report(result))
    return {"slides": len(rows), "left_out": left_out, "not_judged": not_judged, "metrics": result,
            "trained_on": int(judged["trained_on"].sum()), "cells": int(judged["white_cells"].sum())}


def cell_labels(slide, found: FoundCells) -> list:
    """Each found cell's own label where it is known (1 blast, 0 not), else None: by marked centroids where the
    slide has them; 0 on a healthy slide; a single cell cut out on black takes its image's label."""
    if hasattr(slide, "points"):
        return found.marked(slide.points if isinstance(slide.points, list) else []).tolist()
    if hasattr(slide, "label") and (slide.label == 0 or found.field == "cut out on black"):
        return [int(slide.label)] * len(found)
    return [None] * len(found)


def _cell_metrics(cells: pd.DataFrame, slides: pd.DataFrame, cutoff: float) -> dict | None:
    """The cells with labels of their own, on slides the model did not train on, at the cell cut-off."""
    tested = set(slides.loc[~slides["trained_on"], "slide"])
    known = cells[cells["slide"].isin(tested) & cells["label"].notna()]
    return None if known.empty else binary_metrics(known["label"].astype(int), known["p_blast"], cutoff)


def _jpeg(image: np.ndarray, width: int) -> str:
    """``image`` shrunk to ``width`` pixels across (where wider), as a JPEG data URI for the page."""
    factor = min(1.0, width / image.shape[1])
    small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    _, data = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode()


def render_page(pictures: list, cutoff: float, rule: str, rule_line: str) -> str:
    """index.html: one row per slide, by probability (slides that cannot be judged last), with its pictures inside the
    page (the PAGE_PICTURES most probable slides'; the others' rows link to their overlay, so that a page of thousands
    of slides stays light)."""
    rows = []
    ranked = sorted(pictures, key=lambda p: (p[0]["probability"] is None, -(p[0]["probability"] or 0)))
    for rank, (row, name, thumbnail, shown) in enumerate(ranked):
        label = f"<br>label: {'ALL' if row['label'] else 'healthy'}" if "label" in row else ""
        title = html.escape(Path(row["slide"]).name)
        pictured = rank < PAGE_PICTURES
        cells = "".join(f'<figure><img src="{jpeg}" alt="cell, P(blast) {p:.2f}"><figcaption>{p:.2f}</figcaption>'
                        "</figure>" for jpeg, p in shown) if pictured else ""
        picture = f'<img class="field" src="{thumbnail}" alt="{title}">' if pictured else "overlay"
        rows.append(
            f'<tr class="slide"><td><a href="overlays/{html.escape(name)}">{picture}</a></td><td><b>{title}'
            f'</b><br>{"<br>".join(map(html.escape, _verdict_lines(row, rule_line)))}{label}</td>'
            f'<td class="cells">{cells}</td></tr>')
    beyond = (f" Pictures are on this page for the {PAGE_PICTURES} most probable slides; the others link to their "
              "overlay in overlays/." if len(rows) > PAGE_PICTURES else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>keras-all slides</title>
<style>body{{font-family:sans-serif;margin:1em}} table{{border-collapse:collapse}} td{{border-top:1px solid #ccc;
padding:.5em;vertical-align:top}} img.field{{width:{THUMBNAIL}px}} figure{{display:inline-block;margin:0 .3em}}
figure img{{width:{CELL_PICTURE}px;height:{CELL_PICTURE}px}} figcaption{{text-align:center}}</style></head>
<body><h1>Slides by probability of ALL</h1>
<p>{len(rows)} slides. A cell is called a blast at P(blast) &ge; {cutoff:.3f} (the model's validated cut-off);
{html.escape(rule)}. Cells are outlined from green (P 0) to red (P 1); the most blast-like cells of each slide are
shown enlarged, with their P(blast).{beyond}</p>
<table>
{chr(10).join(rows)}
</table></body></html>
"""


def _verdict_lines(row: dict, rule_line: str) -> list[str]:
    """A slide's verdict in words that its cell counts cannot contradict: the slide's decision by its rule, then
    the cells called blasts."""
    if not row["judged"]:
        return [f"{row['note']}; no verdict"]
    called = "ALL" if row["slide_called_all"] else "not called ALL"
    share = "" if row["share_called_blasts"] is None else f" ({row['share_called_blasts']:.1%})"
    return [f"slide: {called} (P(ALL) {row['probability']:.3f}; {rule_line})",
            f"cells called blasts: {row['cells_called_blasts']} of {row['white_cells']}{share}"]


def _metrics(table: pd.DataFrame, cutoff: float, left_out: int, not_judged: int, rule: str) -> dict | None:
    """The judged slides' metrics where they carry labels (those the model trained on left out)."""
    if "label" not in table:
        return None
    trained_on = int(table["trained_on"].sum())
    table = table[~table["trained_on"]]
    if table.empty:
        return {"slides": None, "left_out": left_out, "not_judged": not_judged, "trained_on": trained_on}
    result = {"slides": binary_metrics(table["label"], table["probability"], cutoff), "left_out": left_out,
              "not_judged": not_judged, "trained_on": trained_on, "rule": rule}
    if "marked_blasts" in table:
        error = table["cells_called_blasts"] - table["marked_blasts"]
        result["blast_count"] = {"mean_absolute_error": float(error.abs().mean()), "mean_error": float(error.mean()),
                                 "marked": int(table["marked_blasts"].sum()),
                                 "called": int(table["cells_called_blasts"].sum())}
    return result


def render_report(result: dict) -> str:
    s = result["slides"]
    trained = (f"{result['trained_on']} slides gave the model its training cells and are left out of every figure "
               "here: their verdicts are no test. ") if result["trained_on"] else ""
    if s is None:
        return f"# Slide verdicts\n\n{trained}No other labelled slide is left to score.\n"

    not_judged = (f", {result['not_judged']} pictures that cannot be judged (blank or grayscale; slides.csv names them)"
                  if result["not_judged"] else "")
    lines = ["# Slide verdicts", "", f"{trained}{s['n']} labelled slides ({result['left_out']} files left out"
             f"{not_judged}); {result['rule']}.", "", *_figures_table(s), ""]
    if result.get("cells") is not None:
        c = result["cells"]
        lines += [f"Cells with labels of their own (marked blasts, cells of healthy slides, single cells cut out): "
                  f"{c['n']} ({c['tp'] + c['fn']} blasts), at the cell cut-off {c['cutoff']:.3g}:", "",
                  *_figures_table(c), ""]
    if "blast_count" in result:
        b = result["blast_count"]
        lines += [f"Blasts called {b['called']} against {b['marked']} marked; per slide, mean absolute error "
                  f"{b['mean_absolute_error']:.2f}, mean error {b['mean_error']:+.2f}.", ""]
    return "\n".join(lines)


def _figures_table(metrics: dict) -> list[str]:
    return markdown_table([{name: with_ci(metrics[key], metrics[f"{key}_ci"]) for name, key in
                            (("accuracy", "accuracy"), ("sensitivity", "sensitivity"), ("specificity", "specificity"),
                             ("AUC", "auc"))}])
