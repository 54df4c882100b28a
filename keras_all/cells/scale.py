"""A field's scale, estimated from its red cells.

Red cells are the field's ruler: about 7.5 um across on every microscope. The stained area (green optical
density above ``STAINED_OD``) is outlined, holes (a red cell's pale centre) aside; the outline, smoothed over a
quarter of a red cell's radius, is cut into convex arcs (where it bends outwards; the notches between touching
cells end them), a circle is fitted to every arc that turns through at least ``LEAST_TURN``, and the red cells'
radius is the arc-length-weighted median of the circles' radii near the current guess. The first guess is the
commonest radius of curvature over a range of smoothings; three rounds refine it. The fitted circles follow the
stained edge, a little inside the boxes annotators draw, so the diameter is scaled by ``BOX_PER_OUTLINE``
(measured on BCCD's training list) to stand for the median red-cell box.

How sure: ``spread`` is the interquartile range of the arcs' radii over their median, and an estimate from fewer
than ``LEAST_ARCS`` arcs, or with a spread above ``MOST_SPREAD``, is not sure (a field with few red cells, none,
or no smear at all).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from keras_all.vocabulary import RED_CELL_UM

STAINED_OD = 0.12  # green optical density of a stained pixel (red cells absorb green; chosen on BCCD's train list)
LEAST_TURN = np.pi / 4  # an arc turns through at least this angle to be fitted
SMOOTHING = 0.25  # the outline is smoothed over this share of the red cells' radius
BOX_PER_OUTLINE = 1.09  # a red cell's box over its stained outline's diameter (BCCD's training list)
LEAST_ARCS = 12
MOST_SPREAD = 0.55
MOST_OUTLINES = 200  # stained outlines measured per field, taken evenly from all
WORK_SIDE = 480  # the first look is at most this many pixels across
WORK_RED_CELL = 48  # where red cells span fewer work pixels than this, a second look is closer


@dataclass(frozen=True)
class Scale:
    """How many pixels a red cell spans in a field: given, or estimated from the field (``estimate_scale``) with
    the spread of the red cells' sizes and the number of outline arcs it rests on."""

    red_cell_px: float
    source: str = "given"
    spread: float | None = None
    arcs: int | None = None

    def __post_init__(self):
        if not 4 <= self.red_cell_px <= 2000:
            raise ValueError(f"a red cell of {self.red_cell_px:g} pixels: give a scale between 0.004 and 2 um per "
                             "pixel (a red cell of 4 to 2,000 pixels)")

    @classmethod
    def from_um_per_px(cls, um_per_px: float) -> Scale:
        if not um_per_px > 0:
            raise ValueError(f"--um-per-px {um_per_px:g}: must be a positive number of micrometres per pixel")
        return cls(RED_CELL_UM / um_per_px)

    @property
    def um_per_px(self) -> float:
        return RED_CELL_UM / self.red_cell_px

    @property
    def sure(self) -> bool:
        """Given, or estimated from enough red cell outlines of similar size."""
        return self.arcs is None or (self.arcs >= LEAST_ARCS and self.spread <= MOST_SPREAD)


def optical_density(image: np.ndarray) -> np.ndarray:
    """Per channel, -log of each pixel's light relative to the field's background (its 99th percentile, taken
    over at most about 100,000 of its pixels)."""
    pixels = image.reshape(-1, 3)
    background = np.percentile(pixels[::max(1, len(pixels) // 100_000)], 99, axis=0).astype(np.float32)
    return np.clip(-np.log((image.astype(np.float32) + 1) / (background + 1)), 0, None)


def estimate_scale(image: np.ndarray) -> Scale | None:
    """The red cells' diameter on an RGB field (uint8, height x width x 3) and how sure it is (``Scale.sure``);
    None where the field shows no red cell outline to measure."""
    factor = min(1.0, WORK_SIDE / max(image.shape[:2]))
    radius, spread, arcs = _red_cell_radius(_resized(image, factor))
    if np.isfinite(radius) and 2 * radius < WORK_RED_CELL and factor < 1:
        factor = min(1.0, factor * WORK_RED_CELL / (2 * radius))
        radius, spread, arcs = _red_cell_radius(_resized(image, factor))
    if not np.isfinite(radius):
        return None
    return Scale(BOX_PER_OUTLINE * 2 * radius / factor, "estimated", spread, arcs)


def _resized(image: np.ndarray, factor: float) -> np.ndarray:
    return image if factor == 1 else cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


def _red_cell_radius(image: np.ndarray) -> tuple[float, float, int]:
    density = optical_density(cv2.GaussianBlur(image, (0, 0), 1.0))
    stained = (density[..., 1] > STAINED_OD).astype(np.uint8)
    found = cv2.findContours(stained, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0]
    every = max(1, -(-len(found) // MOST_OUTLINES))  # a large field's outlines, spread over it: enough for a median
    outlines = [c[:, 0, :].astype(float) for c in found[::every]]
    shape = stained.shape
    first = [_radii_of_curvature(outlines, shape, sigma) for sigma in (2, 4, 8, 16, 32) if 6 * sigma < min(shape)]
    radius = _commonest(np.concatenate(first) if first else np.zeros(0), 2.0, min(shape) / 2)
    radii, weights = np.zeros(0), np.zeros(0)
    for _ in range(3):
        if not np.isfinite(radius):
            break
        radii, weights = _arcs(outlines, shape, max(1.0, SMOOTHING * radius))
        near = (radii > radius / 3) & (radii < 3 * radius)
        radii, weights = radii[near], weights[near]
        radius = _weighted_median(radii, weights) if len(radii) else np.nan
    if not np.isfinite(radius) or len(radii) < 3:
        return np.nan, np.nan, len(radii)
    low, high = np.percentile(radii, [25, 75])
    return radius, (high - low) / radius, len(radii)


def _smoothed(outline: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Curvature (positive where the outline bends outwards) and arc length per point of a closed outline."""
    x, y = (ndimage.gaussian_filter1d(outline[:, i], sigma, mode="wrap") for i in (0, 1))
    dx, dy = np.gradient(x), np.gradient(y)
    curvature = (dx * np.gradient(dy) - dy * np.gradient(dx)) / np.maximum((dx * dx + dy * dy) ** 1.5, 1e-9)
    return curvature * np.sign(curvature.sum()), np.hypot(dx, dy)


def _inside(outline: np.ndarray, shape: tuple[int, int], margin: float) -> np.ndarray:
    """Points of an outline away from the field's edge (where the edge, not a cell, draws the outline)."""
    height, width = shape
    x, y = outline[:, 0], outline[:, 1]
    return (x > margin) & (x < width - 1 - margin) & (y > margin) & (y < height - 1 - margin)


def _radii_of_curvature(outlines: list[np.ndarray], shape, sigma: float) -> np.ndarray:
    radii = []
    for outline in outlines:
        if len(outline) >= 6 * sigma:
            curvature, _ = _smoothed(outline, sigma)
            bent = curvature[_inside(outline, shape, sigma)]
            radii.append(1 / bent[bent > 0])
    radii = np.concatenate(radii) if radii else np.zeros(0)
    return radii[(radii > 3 * sigma) & (radii < 12 * sigma)]  # where this smoothing measures a radius well


def _commonest(radii: np.ndarray, low: float, high: float) -> float:
    """The mode of the radii on a log scale (nan for fewer than 20)."""
    radii = radii[(radii > low) & (radii < high)]
    if len(radii) < 20:
        return np.nan
    edges = np.linspace(np.log(low), np.log(high), 80)
    counts = ndimage.gaussian_filter1d(np.histogram(np.log(radii), edges)[0].astype(float), 3)
    peak = int(np.argmax(counts))
    return float(np.exp((edges[peak] + edges[peak + 1]) / 2))


def _arcs(outlines: list[np.ndarray], shape, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Radius and length of a circle fitted to each convex arc of the outlines that turns far enough."""
    radii, lengths = [], []
    for outline in outlines:
        if len(outline) < 6 * sigma:
            continue
        curvature, step = _smoothed(outline, sigma)
        convex = (curvature > 0) & _inside(outline, shape, 1)
        if convex.all():
            runs = [np.arange(len(outline))]
        else:  # start at a point that is not convex, so no run wraps round the end
            order = np.roll(np.arange(len(outline)), -int(np.argmin(convex)))
            labels, count = ndimage.label(convex[order])
            runs = [order[labels == number] for number in range(1, count + 1)]
        for run in runs:
            if np.sum(curvature[run] * step[run]) >= LEAST_TURN:
                radii.append(_circle_radius(outline[run]))
                lengths.append(np.sum(step[run]))
    return np.array(radii), np.array(lengths)


def _circle_radius(points: np.ndarray) -> float:
    """The radius of the least-squares circle through points (Kasa's algebraic fit)."""
    x, y = points[:, 0], points[:, 1]
    (a, b, c), *_ = np.linalg.lstsq(np.stack([x, y, np.ones_like(x)], axis=1), x * x + y * y, rcond=None)
    return float(np.sqrt(max(c + a * a / 4 + b * b / 4, 0.0)))


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
