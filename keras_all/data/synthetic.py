"""Synthetic blood-smear data written in the real layouts, for tests and the demo.

Blasts and normal lymphocytes are drawn to differ in morphology: blasts have a larger nucleus-to-cell ratio,
an irregular nuclear contour, fine dispersed chromatin and 1-3 pale nucleoli; normal lymphocytes have
a round, smaller nucleus with coarse clumped chromatin and no nucleoli. Cell size, stain colour,
illumination and background (red cells on smears, black around C-NMC cells) are drawn per subject
from one distribution for both classes. A larger, paler-spotted nucleus still shifts a cell's colour
histogram, so colour tells the classes apart a little (the demo's colour-histogram baseline: AUC 0.97).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

SYNTH_LAYOUTS = ("all-idb1", "all-idb2", "c-nmc", "aria")
ALL_IDB1_SIZES = ((2592, 1944), (1712, 1368), (1226, 652))  # (width, height), as in the real set


@dataclass(frozen=True)
class Stain:
    """Per-subject staining and optics (RGB in [0, 1])."""

    nucleus: np.ndarray
    cytoplasm: np.ndarray
    red_cell: np.ndarray
    plasma: np.ndarray
    cast: np.ndarray
    noise: float


def random_stain(rng: np.random.Generator) -> Stain:
    def jitter(rgb, spread):
        return np.clip(np.asarray(rgb) + rng.uniform(-spread, spread, 3), 0.02, 1.0)

    return Stain(
        nucleus=jitter((0.36, 0.18, 0.50), 0.12),
        cytoplasm=jitter((0.62, 0.62, 0.85), 0.12),
        red_cell=jitter((0.85, 0.55, 0.58), 0.10),
        plasma=jitter((0.93, 0.88, 0.86), 0.05),
        cast=rng.uniform(0.82, 1.15, 3),
        noise=rng.uniform(0.005, 0.03),
    )


def draw_cell(image: np.ndarray, center: tuple[float, float], radius: float, blast: bool, stain: Stain,
              rng: np.random.Generator) -> None:
    """Paint one white cell into a float32 H x W x 3 image, in place."""
    height, width = image.shape[:2]
    cx, cy = center
    reach = int(np.ceil(radius * 1.15)) + 2
    x0, x1 = max(int(cx) - reach, 0), min(int(cx) + reach + 1, width)
    y0, y1 = max(int(cy) - reach, 0), min(int(cy) + reach + 1, height)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    cell = _soft_disc(xx - cx, yy - cy, radius * _wobble(rng, 0.03, xx - cx, yy - cy))

    ratio = rng.uniform(0.80, 0.90) if blast else rng.uniform(0.55, 0.68)
    nuclear_r = radius * ratio
    offset = (radius - nuclear_r) * rng.uniform(0.0, 0.25 if blast else 0.6)
    angle = rng.uniform(0, 2 * np.pi)
    nx, ny = xx - cx - offset * np.cos(angle), yy - cy - offset * np.sin(angle)
    nucleus = _soft_disc(nx, ny, nuclear_r * _wobble(rng, 0.09 if blast else 0.015, nx, ny)) * cell

    fine = _texture(rng, xx.shape, max(radius * 0.02, 0.6))
    if blast:
        shade = 1.0 + 0.10 * fine
    else:
        clumps = np.clip((_texture(rng, xx.shape, radius * 0.09) - 0.2) * 1.5, 0, 1)
        shade = 1.0 - 0.45 * clumps + 0.04 * fine
    nucleus_rgb = stain.nucleus * shade[..., None]
    if blast:
        pale = np.zeros_like(xx)
        for _ in range(rng.integers(1, 4)):
            r = np.sqrt(rng.uniform(0, 0.45)) * nuclear_r
            t = rng.uniform(0, 2 * np.pi)
            spot = _soft_disc(nx - r * np.cos(t), ny - r * np.sin(t), nuclear_r * rng.uniform(0.10, 0.16))
            pale = np.maximum(pale, spot)
        nucleus_rgb = nucleus_rgb + (np.minimum(stain.nucleus * 1.9, 1.0) - nucleus_rgb) * 0.6 * pale[..., None]

    patch = image[y0:y1, x0:x1]
    patch += (stain.cytoplasm - patch) * cell[..., None]
    patch += (nucleus_rgb - patch) * nucleus[..., None]


def _soft_disc(dx: np.ndarray, dy: np.ndarray, radius) -> np.ndarray:
    """Anti-aliased disc membership of each pixel (1 inside, 0 outside)."""
    return np.clip(radius - np.hypot(dx, dy) + 0.5, 0.0, 1.0)


def _wobble(rng, amplitude, dx, dy):
    """A smooth random radial profile 1 + sum of low harmonics, for irregular contours."""
    theta = np.arctan2(dy, dx)
    profile = np.ones_like(theta)
    for k in (2, 3, 5):
        profile += amplitude * rng.uniform(0.3, 1.0) * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) / k * 2
    return profile


def _texture(rng, shape, sigma):
    noise = rng.standard_normal(shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigma)
    return noise / (noise.std() + 1e-6)


def smear_background(height: int, width: int, stain: Stain, rng: np.random.Generator, red_radius: float,
                     density: float) -> np.ndarray:
    """Plasma with uneven illumination and scattered red cells (pale centres)."""
    image = np.empty((height, width, 3), np.float32)
    image[:] = stain.plasma
    count = int(density * height * width / (np.pi * red_radius**2))
    for x, y, r in zip(rng.uniform(0, width, count), rng.uniform(0, height, count),
                       red_radius * rng.uniform(0.85, 1.15, count)):
        centre = (int(x), int(y))
        cv2.circle(image, centre, int(r), tuple(float(v) for v in stain.red_cell), -1, cv2.LINE_AA)
        pale = stain.red_cell + (stain.plasma - stain.red_cell) * 0.45
        cv2.circle(image, centre, int(r * 0.45), tuple(float(v) for v in pale), -1, cv2.LINE_AA)
    return image


def finish(image: np.ndarray, stain: Stain, rng: np.random.Generator, lit: bool = True) -> np.ndarray:
    """Apply illumination, colour cast, optical blur and sensor noise; return uint8 RGB."""
    height, width = image.shape[:2]
    if lit:
        gx = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
        gy = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
        tilt = rng.uniform(-0.08, 0.08, 2)
        image *= (1.0 + tilt[0] * gx + tilt[1] * gy - 0.06 * (gx**2 + gy**2))[..., None]
    image *= stain.cast.astype(np.float32)
    image = cv2.GaussianBlur(image, (0, 0), 0.8)
    image += (rng.standard_normal(image.shape[:2], dtype=np.float32) * np.float32(stain.noise))[..., None]
    image *= 255.0
    image += 0.5
    return np.clip(image, 0, 255, out=image).astype(np.uint8)


def single_cell(size: int, blast: bool, stain: Stain, rng: np.random.Generator, smear: bool) -> np.ndarray:
    """One centred white cell: on a smear with red cells, or segmented on black (C-NMC)."""
    if smear:
        image = smear_background(size, size, stain, rng, red_radius=size * 0.12, density=0.55)
    else:
        image = np.zeros((size, size, 3), np.float32)
    radius = size * rng.uniform(0.17, 0.27)
    center = size / 2 + rng.uniform(-0.06, 0.06, 2) * size
    draw_cell(image, tuple(center), radius, blast, stain, rng)
    return finish(image, stain, rng, lit=smear)


def slide(width: int, height: int, blasts: int, normals: int, stain: Stain, rng: np.random.Generator):
    """An ALL-IDB1-like field: red cells plus white cells; returns the image and the blast centroids."""
    image = smear_background(height, width, stain, rng, red_radius=width * 0.011, density=0.5)
    scale = width * 0.018
    placed, points = [], []
    for is_blast in [True] * blasts + [False] * normals:
        radius = scale * rng.uniform(0.9, 1.5)
        for _ in range(50):  # keep white cells apart
            x, y = rng.uniform(radius, width - radius), rng.uniform(radius, height - radius)
            if all(np.hypot(x - px, y - py) > radius + pr for px, py, pr in placed):
                break
        placed.append((x, y, radius))
        draw_cell(image, (x, y), radius, is_blast, stain, rng)
        if is_blast:
            points.append((int(round(x)), int(round(y))))
    return finish(image, stain, rng), points


def write_dataset(layout: str, out: str | Path, n: int, seed: int = 0) -> pd.DataFrame:
    """Write ``n`` labelled images in ``layout`` under ``out``; returns path, label and subject of each."""
    if layout not in SYNTH_LAYOUTS:
        raise ValueError(f"unknown synthetic layout {layout!r}: use one of {', '.join(SYNTH_LAYOUTS)}")
    if n < 2:
        raise ValueError(f"n={n}: at least 2 images are needed (one per class)")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out}: exists and is not an empty folder; synthetic images are written only into a new "
                         "or empty folder (never over real data), so pass another --output")
    rng = np.random.default_rng(seed)
    writer = {"all-idb1": _write_all_idb1, "all-idb2": _write_all_idb2, "c-nmc": _write_c_nmc, "aria": _write_aria}
    return pd.DataFrame(writer[layout](out, n, rng), columns=["path", "label", "subject"])


def _save(path: Path, image: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"{path}: could not be written")
    return str(path)


def _write_all_idb1(out: Path, n: int, rng):
    rows, positives = [], (n + 1) // 2
    for i in range(n):
        label = int(i < positives)
        width, height = ALL_IDB1_SIZES[2 if i == n - 1 and n >= 3 else i % 2]
        stain = random_stain(rng)
        image, points = slide(width, height, rng.integers(2, 7) * label, rng.integers(1, 4), stain, rng)
        name = f"Im{i + 1:03d}_{label}"
        rows.append((_save(out / "im" / f"{name}.jpg", image), label, f"slide{i + 1}"))
        (out / "xyc").mkdir(parents=True, exist_ok=True)
        (out / "xyc" / f"{name}.xyc").write_text("".join(f"{x} {y}\n" for x, y in points))
    return rows


def _write_all_idb2(out: Path, n: int, rng):
    rows, positives = [], (n + 1) // 2
    for i in range(n):
        label = int(i < positives)
        stain = random_stain(rng)
        image = single_cell(257, bool(label), stain, rng, smear=True)
        rows.append((_save(out / "img" / f"Im{i + 1:03d}_{label}.tif", image), label, f"crop{i + 1}"))
    return rows


def _write_c_nmc(out: Path, n: int, rng, per_subject: int = 4):
    """``n`` images: training folds, and a ninth of them (none under 9) as a labelled preliminary test."""
    prelim_count = n // 9
    n -= prelim_count
    subjects = max(2, round(n / per_subject))
    counts = np.bincount(np.arange(n) % subjects, minlength=subjects)
    rows, train = [], out / "C-NMC_Leukemia" / "training_data"
    for k in range(subjects):
        label = int(k % 2 == 0)
        number = k // 2 + 1
        subject = f"{number}" if label else f"H{number}"
        written = f"UID_{subject}" if subject != "H3" else "UID_h3"  # the real set has one lower-case name
        stain, cls = random_stain(rng), ("all" if label else "hem")
        for j in range(counts[k]):
            image = single_cell(450, bool(label), stain, rng, smear=False)
            path = train / f"fold_{(k // 2) % 3}" / cls / f"{written}_{j // 2 + 1}_{j % 2 + 1}_{cls}.bmp"
            rows.append((_save(path, image), label, subject))
    if not prelim_count:
        return rows
    prelim, labels = out / "C-NMC_Leukemia" / "validation_data", []
    for i in range(prelim_count):
        label = i % 2
        subject = f"{subjects + i}" if label else f"H{subjects + i}"
        cls = "all" if label else "hem"
        image = single_cell(450, bool(label), random_stain(rng), rng, smear=False)
        path = _save(prelim / "C-NMC_test_prelim_phase_data" / f"{i + 1}.bmp", image)
        labels.append((f"UID_{subject}_1_1_{cls}.bmp", f"{i + 1}.bmp", label))
        rows.append((path, label, subject))
    pd.DataFrame(labels, columns=["Patient_ID", "new_names", "labels"]).to_csv(
        prelim / "C-NMC_test_prelim_phase_data_labels.csv", index=False
    )
    return rows


def _write_aria(out: Path, n: int, rng, per_subject: int = 8):
    rows = []
    benign = max(1, round(n * 0.25))
    subtypes = ["Benign"] * benign + [("Early", "Pre", "Pro")[i % 3] for i in range(n - benign)]
    numbers: dict[str, int] = {}
    stain = None
    for i, subtype in enumerate(subtypes):
        if i % per_subject == 0 or i == benign:
            stain = random_stain(rng)  # a hidden patient every few images, never shared by the two classes
        label = int(subtype != "Benign")
        numbers[subtype] = numbers.get(subtype, 0) + 1
        name = f"WBC-Benign-{numbers[subtype]:03d}.jpg" if not label else \
            f"WBC-Malignant-{subtype}-{numbers[subtype]:03d}.jpg"
        image = single_cell(224, bool(label), stain, rng, smear=True)
        rows.append((_save(out / "Original" / subtype / name, image), label, ""))
    return rows
