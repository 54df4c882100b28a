"""Learning from the white cells found on fields (``--unit cell``): crops, labels, subjects and the run."""

import html
import json
import os
import re
import shutil
import signal
import subprocess
import time
from html.parser import HTMLParser

import cv2
import numpy as np
import pandas as pd
import pytest

from keras_all.cells.crops import background_colour, cell_crops
from keras_all.cells.finder import find_cells
from keras_all.cells.scale import Scale
from keras_all.cells.slide_rule import RULES, fit_slide_rule
from keras_all.config import CellConfig, load_config
from keras_all.data import load_dataset
from keras_all.data.io import read_image
from keras_all.data.synthetic import write_dataset
from keras_all.evaluation.slide_judge import SlideJudge
from keras_all.training.bags import top_cells
from keras_all.training.cell_data import cells_of

from .helpers import KERAS_ALL, cli, counted_decodes, shell, shell_environment, table_rows


@pytest.fixture(scope="module")
def slides(tmp_path_factory):
    """Twelve synthetic ALL-IDB1 slides (two sizes, as its two cameras) with their blast centroids."""
    root = tmp_path_factory.mktemp("all-idb1")
    write_dataset("all-idb1", root, 12, seed=0)
    return load_dataset("all-idb1", root)


@pytest.mark.xdist_group("cell-run")  # one worker trains the cell model once for them all
def test_slides_become_cells_labelled_by_their_centroids(slides, cell_run):
    cells = cells_of(slides, CellConfig(unit="cell", controls=()), cell_run / "cells", echo=lambda _: None)
    table = cells.samples
    centroids = int(slides.samples["n_points"].fillna(0).sum())
    assert cells.cells_of["centroids"] == centroids > 0 and cells.cells_of["centroids_missed"] == 0
    assert table["label"].sum() == centroids  # clean synthetic slides: one found cell per centroid
    assert set(table["class_name"]) == {"blast", "not blast"}
    healthy = slides.samples.loc[slides.samples["label"] == 0, "path"]
    assert table.loc[table["field"].isin(healthy), "label"].eq(0).all() and table["field"].isin(healthy).any()
    assert (table["subject"] == table["field"].map(lambda p: os.path.splitext(os.path.basename(p))[0])).all()
    assert (table["height"] == 128).all() and (table["width"] == 128).all()
    assert len(table) == cells.cells_of["cells"] == len(pd.read_csv(cell_run / "cells" / "cells.csv"))
    stamp = os.stat(cell_run / "cells" / "cells.csv").st_mtime_ns
    again = cells_of(slides, CellConfig(unit="cell", controls=()), cell_run / "cells", echo=lambda _: None)
    assert os.stat(cell_run / "cells" / "cells.csv").st_mtime_ns == stamp  # the crops a run cut are reused
    assert again.samples["sha256"].tolist() == table["sha256"].tolist()
    drawn = cells.subsample(8, seed=0, whole="field").samples  # as --max-per-class draws a cell run's cells
    assert drawn["label"].value_counts().max() <= 8 and len(drawn) >= 8
    per_field = table.groupby("field").size()
    assert (drawn.groupby("field").size() == per_field.loc[drawn["field"].unique()]).all()  # whole fields only


def test_a_crop_is_one_physical_size_and_can_show_the_cell_alone(slides):
    path = slides.samples["path"][0]
    image = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    scale = Scale(2 * image.shape[1] * 0.011)  # the synthetic slides' red-cell diameter
    found = find_cells(image, scale)
    plain, alone = cell_crops(image, found), cell_crops(image, found, show="cell")
    around = cell_crops(image, found, show="background")
    assert plain.shape == alone.shape == around.shape == (len(found), 128, 128, 3) and len(found) >= 1
    fill = background_colour(image)
    corner = alone[:, :8, :8].reshape(-1, 3)
    assert (corner == fill).all() and not (plain[:, :8, :8].reshape(-1, 3) == fill).all()
    assert (alone[:, 64, 64] == plain[:, 64, 64]).all()  # the cell's centre is kept
    assert (around[:, 64, 64] == fill).all() and (around[:, :8, :8] == plain[:, :8, :8]).all()  # and blanked
    half = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)  # another camera's magnification
    smaller = cell_crops(half, find_cells(half, Scale(scale.red_cell_px / 2)))
    assert len(smaller) == len(plain)
    assert np.abs(smaller.astype(int) - plain.astype(int)).mean() < 12  # the same cells at the same size


def test_aria_fields_pass_their_label_to_their_cells(shared_path, tmp_path):
    aria = load_dataset("aria", shared_path("aria-all")).subsample(6, seed=0)
    cells = cells_of(aria, CellConfig(unit="cell"), tmp_path / "cells", echo=lambda _: None)
    table = cells.samples
    fields = aria.samples.set_index("path")
    assert table["label"].tolist() == table["field"].map(fields["label"]).tolist()
    assert table["class_name"].tolist() == table["field"].map(fields["class_name"]).tolist()
    assert cells.cells_of["labels"] == "field label" and "centroids" not in cells.cells_of
    assert table["field"].nunique() >= 9 and table["label"].nunique() == 2
    assert 10 < cells.cells_of["median_red_cell_px"] < 30  # Aria's 224 px fields: a red cell of about 17 px


def test_the_slide_rule_is_chosen_on_validation_fields_and_read_once_on_test():
    rng = np.random.default_rng(0)
    rows, cells = [], []
    for field in range(40):  # an ALL field holds one clear blast among ordinary cells: only its most blast-like
        label, part = field % 2, "test" if field >= 30 else "validation"  # cell tells it
        p = rng.uniform(0.0, 0.5, 8)
        p[0] = rng.uniform(0.8, 1.0) if label else rng.uniform(0.0, 0.5)
        for k, value in enumerate(p):
            rows.append({"path": f"f{field}_c{k}.png", "probability": value, "part": part})
            cells.append({"path": f"f{field}_c{k}.png", "field": f"f{field}.jpg", "field_label": label})
    fitted = fit_slide_rule(pd.DataFrame(rows), pd.DataFrame(cells), cell_cutoff=0.5)
    assert fitted["rule"] == "max" and fitted["validation_auc"]["max"] == 1.0 > fitted["validation_auc"]["mean"]
    assert 0.5 <= fitted["cutoff"] <= 1.0 and fitted["validation_fields"] == 30  # between the classes
    assert fitted["test"]["n"] == 10 and fitted["test"]["accuracy"] == 1.0
    healthy = pd.DataFrame(cells).assign(field_label=0)
    assert fit_slide_rule(pd.DataFrame(rows), healthy, 0.5) is None  # one class: nothing to choose by


def test_single_cell_sets_and_bad_cell_settings_are_refused(shared_path, tmp_path):
    cnmc = load_dataset("c-nmc", shared_path("cnmc-sample"))
    with pytest.raises(ValueError, match="its images are single cells already; train them with --unit image"):
        cells_of(cnmc, CellConfig(unit="cell"), tmp_path / "cells")
    with pytest.raises(ValueError, match="cells.unit='cells': use one of image, cell"):
        load_config(overrides={"cells.unit": "cells"})
    with pytest.raises(ValueError, match=r"cells.um_per_px=-1: must be a number in \[0.00375, 1.875\]"):
        load_config(overrides={"cells.um_per_px": -1})
    assert load_config().cells.unit == "image"
    with pytest.raises(ValueError, match=r"controls=\['cells'\]: give a list of distinct names out of cell, "):
        load_config(overrides={"cells.controls": ["cells"]})
    assert load_config(overrides={"cells.controls": []}).cells.controls == ()


@pytest.fixture(scope="module")
def cell_run(slides, tmp_path_factory):
    """A cell model trained from the shell on the slides' cells (1 epoch, 2 folds; its controls train in the slow
    Aria test)."""
    run = tmp_path_factory.mktemp("cell-run") / "run"
    done = shell("train", "--dataset", "all-idb1", "--data-dir", slides.root, "--unit", "cell", "--preset", "demo",
                 "--epochs", 1, "--folds", 2, "--controls", "none", "--output", run)
    assert done.returncode == 0, done.stderr
    return run


@pytest.mark.xdist_group("cell-run")  # one worker trains the cell model once for them all
@pytest.mark.shell
def test_train_on_the_cells_of_slides_from_the_shell(cell_run):
    summary = json.loads((cell_run / "data_summary.json").read_text())
    assert summary["dataset"] == "all-idb1 cells" and summary["cells_of"]["labels"] == "centroids"
    predictions = pd.read_csv(cell_run / "predictions.csv")
    cells = pd.read_csv(cell_run / "cells" / "cells.csv")
    assert set(predictions["path"]) == set(cells["path"])
    splits = pd.read_csv(cell_run / "splits.csv", keep_default_na=False)
    assert (splits.groupby("subject")[["split", "fold"]].nunique() == 1).all().all()  # a slide's cells together
    assert "white cells: " in (cell_run / "report.md").read_text() and (cell_run / "baseline.json").is_file()
    assert "cells: unit: cell" in (cell_run / "config.yaml").read_text().replace("\n  ", " ")
    (cell_run / "report.md").unlink()
    assert cli("report", cell_run).exit_code == 0  # rendered again from the run's files, its cell sections too
    assert "## Fields judged from their cells" in (cell_run / "report.md").read_text()


class _Rows(HTMLParser):
    """Counts a page's slide rows and the pictures inside the page."""

    def __init__(self):
        super().__init__()
        self.rows, self.embedded, self.linked = 0, 0, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.rows += tag == "tr" and attrs.get("class") == "slide"
        self.embedded += tag == "img" and attrs.get("src", "").startswith("data:image/")
        self.linked += tag == "a" and attrs.get("href", "").startswith("overlays/")


@pytest.mark.xdist_group("cell-run")  # one worker trains the cell model once for them all
@pytest.mark.shell
def test_slides_counts_blasts_per_slide_and_writes_a_page(cell_run, slides, tmp_path):
    out = tmp_path / "slides"
    done = shell("slides", "--model", cell_run, "--dataset", "all-idb1", "--data-dir", slides.root, "--output", out)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "slides.csv")
    assert len(table) == len(slides.samples) and table["probability"].is_monotonic_decreasing
    assert (table["cells_called_blasts"] <= table["white_cells"]).all() and table["marked_blasts"].sum() == int(
        slides.samples["n_points"].fillna(0).sum())
    cells = pd.read_csv(out / "cells.csv")
    assert len(cells) == table["white_cells"].sum() and cells["p_blast"].between(0, 1).all()
    rule = json.loads((cell_run / "slide_rule.json").read_text())  # chosen on the run's validation fields
    assert rule["rule"] in RULES and "## Fields judged from their cells" in (cell_run / "report.md").read_text()
    by_rule = RULES[rule["rule"]]
    per_slide = cells.groupby("slide")["p_blast"].apply(lambda p: by_rule(p.to_numpy(), rule["cell_cutoff"]))
    assert np.allclose(table.set_index("slide")["probability"].loc[per_slide.index], per_slide)
    assert (table["slide_called_all"] == (table["probability"] >= rule["cutoff"])).all() and table["judged"].all()
    trained = table["trained_on"]  # the run's development slides: verdicts that are no test
    splits = pd.read_csv(cell_run / "splits.csv", keep_default_na=False)
    assert trained.sum() == splits.query("split == 'dev'")["subject"].nunique() and not trained.all()
    assert f"warning: {trained.sum()} of the slides gave the model its training cells" in done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["trained_on"] == trained.sum() and metrics["slides"]["n"] == (~trained).sum()
    assert metrics["blast_count"]["marked"] == table.loc[~trained, "marked_blasts"].sum()
    own = cells.groupby("slide")["label"].sum().reindex(table["slide"]).fillna(0).to_numpy()
    assert (own == table["marked_blasts"]).all()  # each marked blast on a found cell of its own: counts can be exact
    tested = cells[cells["slide"].isin(table.loc[~trained, "slide"])]  # labelled cell by cell by the centroids
    assert metrics["cells"]["n"] == len(tested) and metrics["cells"]["tp"] + metrics["cells"]["fn"] == tested[
        "label"].sum() <= metrics["blast_count"]["marked"]
    assert ["accuracy", "sensitivity", "specificity", "AUC"] in table_rows((out / "report.md").read_text())
    page = _Rows()
    page.feed((out / "index.html").read_text())
    assert page.rows == page.linked == len(table) and page.embedded > len(table)
    assert len(list((out / "overlays").glob("*.jpg"))) == len(table)
    first = slides.samples["path"][0]
    verdict = SlideJudge.from_run(cell_run)(first)  # the same verdict from Python, in a few lines
    row = table.set_index("slide").loc[first]
    assert (verdict.white_cells, verdict.blasts, verdict.decision) == (row["white_cells"], row["cells_called_blasts"],
                                                                       row["slide_called_all"])
    assert np.isclose(verdict.probability, row["probability"]) and verdict.overlay(read_image(first)).shape[2] == 3
    assert cli("export", "--model", cell_run, "--format", "keras", "--output", tmp_path / "export").exit_code == 0
    unlabelled = cli("slides", "--model", tmp_path / "export", first, "--output", tmp_path / "one")
    assert unlabelled.exit_code == 0, unlabelled.output  # an export judges as its run, trained slides known
    one = pd.read_csv(tmp_path / "one" / "slides.csv").iloc[0]
    assert np.isclose(one["probability"], row["probability"]) and one["trained_on"] == row["trained_on"]
    assert not (tmp_path / "one" / "metrics.json").exists()


def _page_rows(page: str) -> dict[str, list[str]]:
    """Each slide row of a slides page: its title and the lines of its verdict, as a reader sees them."""
    rows = re.findall(r'<tr class="slide">.*?<b>(.*?)</b><br>(.*?)</td>', page)
    return {html.unescape(title): [html.unescape(line) for line in text.split("<br>")] for title, text in rows}


@pytest.mark.xdist_group("cell-run")  # one worker trains the cell model once for them all
@pytest.mark.shell
def test_slides_on_a_folder_of_odd_files_judges_what_it_can_and_words_verdicts_that_agree(cell_run, slides, tmp_path):
    folder = tmp_path / "slides"
    shutil.copytree(slides.root, folder)  # ALL-IDB1 as it ships: im/ with the slides, xyc/ with text files
    first = slides.samples["path"][0]
    os.rename(folder / "im" / os.path.basename(first), bytes(folder / "im") + b"/field caf\xe9 one.jpg")
    cv2.imwrite(str(folder / "im" / "gray.jpg"), cv2.imread(slides.samples["path"][1], cv2.IMREAD_GRAYSCALE))
    done = shell("slides", "--model", cell_run, folder, "--output", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    xyc = len(list((folder / "xyc").iterdir()))
    assert "not a readable image" not in done.stderr and done.stderr.count(".xyc") == 1
    assert f"skipped {xyc} files that are not image files (no image extension; the first: " in done.stderr
    gray = folder / "im" / "gray.jpg"
    assert (f"warning: {gray}: cannot be judged: no colour (grayscale), not a stained smear; no verdict, and it is "
            "left out of the figures") in done.stderr.splitlines()
    assert "1 cannot be judged (warnings above)" in done.stdout
    table = pd.read_csv(tmp_path / "out" / "slides.csv").set_index("slide")
    assert len(table) == len(slides.samples) + 1 and not table.loc[str(gray), "judged"]
    assert table.loc[str(gray), ["probability", "slide_called_all", "white_cells"]].isna().all()
    odd = f"{folder / 'im'}/field caf\\xe9 one.jpg"
    assert table.loc[odd, "judged"] and table.loc[odd, "white_cells"] >= 1  # read, and named readably
    assert set(pd.read_csv(tmp_path / "out" / "cells.csv")["slide"]) == set(table.index[table["judged"]])
    rows = _page_rows((tmp_path / "out" / "index.html").read_text())
    assert rows["gray.jpg"] == ["cannot be judged: no colour (grayscale), not a stained smear; no verdict"]
    for slide, row in table[table["judged"]].iterrows():  # the slide's decision and its cells, each in its own words
        decision, cells = rows[os.path.basename(slide)]
        called = "ALL" if row["slide_called_all"] else "not called ALL"
        assert decision.startswith(f"slide: {called} (P(ALL) {row['probability']:.3f}; rule: ALL at "), decision
        assert cells.startswith(f"cells called blasts: {row['cells_called_blasts']:.0f} of {row['white_cells']:.0f}")
    assert "no blast called" not in (tmp_path / "out" / "index.html").read_text()


@pytest.mark.xdist_group("cell-run")  # one worker trains the cell model once for them all
@pytest.mark.shell
def test_ctrl_c_ends_slides_with_code_130_and_leaves_no_folder_wherever_it_lands(cell_run, slides, tmp_path):
    for attempt, delay in enumerate((0.0, 1.0)):  # as its folder is made, and while slides are scored
        out = tmp_path / f"out{attempt}"
        process = subprocess.Popen([KERAS_ALL, "slides", "--model", str(cell_run), "--dataset", "all-idb1",
                                    "--data-dir", str(slides.root), "--output", str(out)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=shell_environment(),
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 300
        while not list(tmp_path.glob(f".out{attempt}.partial-*")) and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.02)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 130, stderr
        assert stderr.strip().splitlines()[-1] == "interrupted" and "Traceback" not in stderr
        assert not out.exists() and not list(tmp_path.glob(".out*")), os.listdir(tmp_path)


@pytest.mark.xdist_group("cell-run")  # one worker trains the cell model once for them all
@pytest.mark.slow
def test_single_cells_of_another_set_are_scored_by_their_image_label(cell_run, shared_path, tmp_path):
    out = tmp_path / "c-nmc"
    done = cli("slides", "--model", cell_run, "--dataset", "c-nmc", "--data-dir", shared_path("cnmc-sample"),
               "--um-per-px", "0.075", "--output", out)  # C-NMC states no scale
    assert done.exit_code == 0, done.output
    table, cells = pd.read_csv(out / "slides.csv"), pd.read_csv(out / "cells.csv")
    assert len(table) == len(cells) == 52 and (table["white_cells"] == 1).all()
    joined = cells.merge(table[["slide", "label"]], on="slide", suffixes=("", "_slide"))
    assert (joined["label"] == joined["label_slide"]).all() and joined["label"].sum() == 26
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["cells"]["n"] == 52 and metrics["cells"]["auc"] is not None
    assert "cells: 52," in done.output


@pytest.mark.xdist_group("cell-run")  # one worker trains the cell model once for them all
def test_cells_of_healthy_fields_are_not_blasts_and_are_counted(cell_run, shared_path, tmp_path):
    from keras_all.commands.slides import score_slides
    from keras_all.data.fields import read_fields

    fields = read_fields("bccd", shared_path("bccd")).fields.head(4)[["path"]].assign(label=0)
    judge = SlideJudge.from_run(cell_run)
    result = score_slides(fields, judge, tmp_path / "out", echo=lambda _: None)
    cells = pd.read_csv(tmp_path / "out" / "cells.csv")
    assert len(cells) == result["cells"] >= 4 and (cells["label"] == 0).all()
    called = result["metrics"]["cells"]
    assert called["n"] == len(cells) and called["sensitivity"] is None
    assert called["fp"] == (cells["p_blast"] >= judge.cutoff).sum()


@pytest.mark.xdist_group("cell-run")  # one worker trains the cell model once for them all
def test_slides_refuses_a_model_of_whole_images(cell_run, slides, tmp_path):
    images = tmp_path / "image-run"
    shutil.copytree(cell_run, images, ignore=shutil.ignore_patterns("cells"))
    (images / "config.yaml").write_text((images / "config.yaml").read_text().replace("unit: cell", "unit: image"))
    refused = cli("slides", "--model", images, slides.samples["path"][0], "--output", tmp_path / "x")
    assert refused.exit_code == 1 and "a model of whole images; slides needs a cell model" in refused.output
    assert not (tmp_path / "x").exists()


@pytest.mark.xdist_group("cell-run")  # one worker trains the cell model once for them all
@pytest.mark.slow
def test_the_slides_page_renders_in_a_real_browser(cell_run, slides, tmp_path):
    browser = shutil.which("chromium")
    if browser is None:
        message = "Debian's chromium is not installed (apt-get install chromium)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    out = tmp_path / "slides"
    assert cli("slides", "--model", cell_run, "--dataset", "all-idb1", "--data-dir", slides.root,
               "--output", out).exit_code == 0
    flags = ["--headless", "--no-sandbox", "--disable-gpu"]
    dom = subprocess.run([browser, *flags, "--dump-dom", (out / "index.html").as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    page = _Rows()
    page.feed(dom)
    assert page.rows == len(slides.samples) and "Slides by probability of ALL" in dom
    subprocess.run([browser, *flags, f"--screenshot={tmp_path / 'page.png'}", "--window-size=1200,900",
                    (out / "index.html").as_uri()], capture_output=True, timeout=120)
    shot = cv2.imread(str(tmp_path / "page.png"))
    assert shot is not None and shot.shape[:2] == (900, 1200) and shot.std() > 20  # pictures drawn, not a blank page


def test_top_instances_are_the_most_blast_like_cells_of_each_all_field():
    fields = ["a"] * 8 + ["b"] * 2 + ["c"] * 5  # a and b ALL fields, c a healthy one
    samples = pd.DataFrame({"path": [f"{f}{k}.png" for k, f in enumerate(fields)], "field": fields,
                            "label": [1] * 10 + [0] * 5})
    scores = samples[["path"]].assign(probability=[.1, .9, .3, .8, .2, .4, .5, .6, .7, .2, .1, .1, .1, .1, .1])
    kept = top_cells(np.arange(15), samples, scores, share=0.25)
    assert kept.tolist() == [1, 3, 8, *range(10, 15)]  # a: 2 of 8; b: 1 of 2 (at least one); c: all
    assert top_cells(np.array([0, 2, 4, 10]), samples, scores, 0.25).tolist() == [2, 10]  # within the fold only
    with pytest.raises(ValueError, match="scored only some of its training cells"):
        top_cells(np.arange(15), samples, scores.head(3), 0.25)


@pytest.mark.slow
@pytest.mark.shell
def test_train_on_the_cells_of_fields_labelled_as_a_whole_with_its_controls_from_the_shell(tmp_path):
    write_dataset("aria", tmp_path / "aria", 40, seed=0)
    run = tmp_path / "run"
    done = shell("train", "--dataset", "aria", "--data-dir", tmp_path / "aria", "--unit", "cell", "--preset", "demo",
                 "--epochs", 1, "--folds", 2, "--output", run)
    assert done.returncode == 0, done.stderr
    _controls_by_the_runs_own_splits(run)
    bags = json.loads((run / "metrics.json").read_text())["bags"]
    auc = bags["validation_field_auc"]
    assert bags["asked"] == "best" and bags["kept"] == ("top" if auc["top"] > auc["inherit"] else "inherit")
    assert all(t <= i for t, i in zip(bags["fold_training_cells"]["top"], bags["fold_training_cells"]["inherit"]))
    kept = run / ("top" if bags["kept"] == "top" else "") / "final" / "predictions.csv"
    delivered = pd.read_csv(run / "predictions.csv").query("part == 'test'")
    assert np.allclose(delivered["probability"], pd.read_csv(kept)["probability"])  # the figures are the kept's
    assert (run / "top" / "final" / "model.keras").is_file()
    assert "## How the cells learned their field's label" in (run / "report.md").read_text()


def test_a_page_of_many_slides_holds_the_pictures_of_the_most_probable_only(monkeypatch):
    from keras_all.commands import slides as slides_run

    monkeypatch.setattr(slides_run, "PAGE_PICTURES", 2)
    picture = "data:image/jpeg;base64,AAAA"
    rows = [{"slide": f"s{k}.jpg", "judged": True, "probability": p, "slide_called_all": int(p > .5),
             "white_cells": 3, "cells_called_blasts": 1, "share_called_blasts": 1 / 3}
            for k, p in enumerate([.2, .9, .5, .7])]
    pictures = [(row, f"{k}.jpg", picture, [(picture, row["probability"])]) for k, row in enumerate(rows)]
    page = _Rows()
    page.feed(slides_run.render_page(pictures, 0.5, "a rule", "rule: ALL at 0.500 or more"))
    assert page.rows == page.linked == 4 and page.embedded == 2 * 2  # s1 and s3: a field and a cell each
    assert "the others link to their overlay" in slides_run.render_page(pictures, 0.5, "a rule", "")


def _controls_by_the_runs_own_splits(cell_run):
    """A cell run trained its three controls by its own splits, and its report judges the same fields by each."""
    splits = pd.read_csv(cell_run / "splits.csv", keep_default_na=False)
    cells = pd.read_csv(cell_run / "cells" / "cells.csv", keep_default_na=False).set_index("path").loc[splits["path"]]
    for control in ("cell", "background"):  # the same cells, each in its split and fold, seen otherwise
        theirs = pd.read_csv(cell_run / "controls" / control / "splits.csv", keep_default_na=False)
        assert (theirs["path"] == cells[f"path_{control}"].to_numpy()).all()
        assert (theirs[["split", "fold", "label"]].to_numpy() == splits[["split", "fold", "label"]].to_numpy()).all()
        assert (cell_run / "controls" / control / "final" / "metrics.json").is_file()
    fields = pd.read_csv(cell_run / "controls" / "image" / "splits.csv", keep_default_na=False).set_index("path")
    by_cells = splits.assign(field=cells["field"].to_numpy()).groupby("field")[["split", "fold"]].agg(set)
    assert set(fields.index) == set(by_cells.index)  # every field holding a cell of the run, and no other
    assert all(by_cells.loc[f, "split"] == {row.split} and by_cells.loc[f, "fold"] == {row.fold}
               for f, row in fields.iterrows())
    features = pd.read_csv(cell_run / "cells" / "field_features.csv", keep_default_na=False).set_index("field")
    counted = cells.groupby("field").size()
    assert (features.loc[counted.index, "white_cells"] == counted).all()
    controls = json.loads((cell_run / "controls.json").read_text())
    assert list(controls["contenders"]) == ["the cell model", "cell pipeline", "background pipeline",
                                            "image pipeline", "cell crop histogram", "whole field histogram",
                                            "background histogram", "white-cell count"]
    test_fields = splits.query("split == 'test'").assign(field=lambda t: cells.loc[t["path"], "field"].to_numpy())
    assert controls["test_fields"] == test_fields["field"].nunique()
    assert all(c["test"]["n"] == controls["test_fields"] for c in controls["contenders"].values())
    report = (cell_run / "report.md").read_text()
    assert "## Controls: what the fields' verdict reads" in report
    assert "background pipeline" in [row[0] for row in table_rows(report)]


def test_cell_training_decodes_each_field_once_where_a_command_holds_them(slides, tmp_path, monkeypatch):
    from keras_all.data.io import decoded_once

    counts = counted_decodes(monkeypatch)
    with decoded_once():  # as every keras-all command does
        data = load_dataset("all-idb1", slides.root)  # read, hashed and checked
        cells_of(data, CellConfig(), tmp_path / "held")  # then measured by its red cells, and searched
    fields = set(data.samples["path"])
    assert fields <= set(counts) and set(counts.values()) == {1}  # the fields, and the crops read back as a data set
    counts.clear()
    one = sorted(fields)[0]
    read_image(one), read_image(one)  # nothing held outside a command: each read decodes again, and is counted
    assert counts[one] == 2


@pytest.mark.xdist_group("cell-run")
def test_slides_decodes_each_slide_once(cell_run, slides, tmp_path, monkeypatch):
    paths = set(slides.samples["path"])
    counts = counted_decodes(monkeypatch)
    done = cli("slides", "--model", cell_run, "--dataset", "all-idb1", "--data-dir", slides.root,
               "--output", tmp_path / "out")
    assert done.exit_code == 0, done.output
    assert set(counts) == paths and set(counts.values()) == {1}  # read, measured and judged from one decode
