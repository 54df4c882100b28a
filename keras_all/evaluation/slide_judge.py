"""A slide (a smear field) to its verdict by a cell model, the one path of `keras-all slides` and of Python:

    judge = SlideJudge.from_run("saved_models/RUN")   # a cell run's folder, or its export
    verdict = judge("slide.jpg")                     # or an RGB array
    verdict.white_cells, verdict.blasts, verdict.probability, verdict.decision
    overlay = verdict.overlay(image)                 # cells outlined green (P 0) to red (P 1)

The white cells are found at the slide's scale (measured from its red cells unless given), cut as the run cut its
training cells, scored by the model, and the slide's probability is the rule the run chose on its validation
fields (``slide_rule.json``), decided at its cut-off; a run without one judges a slide by its most blast-like
cell at the cell cut-off. A picture that is no stained smear (blank, or grayscale) is not judged: its verdict says
so (``judged`` False, ``why_not_judged``) and holds no probability and no decision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keras_all.artifacts import CONFIG_YAML
from keras_all.cells.crops import cell_crops
from keras_all.cells.finder import FoundCells, find_cells
from keras_all.cells.overlay import by_probability, outlined
from keras_all.cells.scale import Scale
from keras_all.cells.slide_rule import RULE_NAMES, RULES, SLIDE_RULE
from keras_all.config import CellConfig
from keras_all.data.io import read_image
from keras_all.loader import LoadedModel, load_model
from keras_all.run_folder import RunFolder


@dataclass(frozen=True)
class SlideVerdict:
    """One slide judged: its found cells, their crops and P(blast), whether each is called a blast (at the cell
    cut-off), and the slide's probability and decision (None where the slide cannot be judged)."""

    cells: FoundCells
    crops: np.ndarray
    p_blast: np.ndarray
    blast: np.ndarray
    probability: float | None
    decision: int | None

    @property
    def judged(self) -> bool:
        return self.cells.judged

    @property
    def why_not_judged(self) -> str:
        return self.cells.why_not_judged

    @property
    def white_cells(self) -> int:
        return len(self.cells)

    @property
    def blasts(self) -> int:
        return int(self.blast.sum())

    @property
    def blast_fraction(self) -> float | None:
        return float(self.blast.mean()) if len(self.blast) else None

    def overlay(self, image: np.ndarray) -> np.ndarray:
        """``image`` (the slide's RGB pixels) with each cell outlined, from green (P 0) to red (P 1)."""
        return outlined(image, self.cells, by_probability(self.p_blast))


class SlideJudge:
    """A cell model with how its run cut cells (``cells``) and its slide rule (``rule``: ``rule`` and ``cutoff``,
    as slide_rule.json holds them; None: the most blast-like cell at the cell cut-off)."""

    def __init__(self, model: LoadedModel, cells: CellConfig, rule: dict | None = None):
        self.model, self.cells = model, cells
        self.rule = rule or {"rule": "max", "cutoff": model.cutoff}

    @classmethod
    def from_run(cls, ref: str | Path) -> SlideJudge:
        """The judge of a cell run's folder (or its export); one clear error for anything else."""
        model = load_model(ref)
        if model.kind not in ("run", "export") or not (model.home / CONFIG_YAML).is_file():
            raise ValueError(f"{ref}: give the run folder (or export folder) of a cell model, whose config.yaml says "
                             "how its cells were cut")
        cells = RunFolder(model.home).config().cells
        if cells.unit != "cell":
            raise ValueError(f"{ref}: a model of whole images; slides needs a cell model "
                             "(`keras-all train ... --unit cell`)")
        fitted = model.home / SLIDE_RULE
        return cls(model, cells, json.loads(fitted.read_text()) if fitted.is_file() else None)

    @property
    def cutoff(self) -> float:
        """The cell cut-off: a cell at or above it is called a blast."""
        return self.model.cutoff

    @property
    def rule_line(self) -> str:
        """The slide rule's decision in a few words, for a slide's row."""
        if "validation_fields" not in self.rule:
            return f"rule: ALL when one cell is called a blast, P(blast) {self.cutoff:.3f} or more"
        return f"rule: ALL at {self.rule['cutoff']:.3f} or more"

    @property
    def rule_text(self) -> str:
        if "validation_fields" not in self.rule:
            return ("a slide's probability is its most blast-like cell's, ALL when one cell is called a blast (the "
                    "run fitted no slide rule)")
        return (f"a slide's probability is the {RULE_NAMES[self.rule['rule']]}, ALL at {self.rule['cutoff']:.3f} or "
                "more (rule and cut-off chosen on the run's validation fields)")

    def __call__(self, slide: np.ndarray | str | Path, scale: Scale | None = None) -> SlideVerdict:
        """The verdict on ``slide`` (an RGB uint8 array, or an image file) at ``scale`` (None: its red cells')."""
        image = read_image(slide) if isinstance(slide, str | Path) else slide
        found = find_cells(image, scale)
        crops = cell_crops(image, found, self.cells.side, self.cells.pixels, self.cells.show)
        p_blast = self.model.predict(crops)[0] if len(found) else np.zeros(0)
        if not found.judged:
            return SlideVerdict(found, crops, p_blast, p_blast >= self.cutoff, None, None)
        probability = RULES[self.rule["rule"]](p_blast, self.cutoff) if len(found) else 0.0
        return SlideVerdict(found, crops, p_blast, p_blast >= self.cutoff, float(probability),
                            int(len(found) > 0 and probability >= self.rule["cutoff"]))
