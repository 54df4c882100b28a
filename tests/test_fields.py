"""Field sets with marked cells (Pascal VOC, YOLO, ALL-IDB1 centroids) and the scoring of found cells."""

import json
import shutil
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import pandas as pd
import pytest

from keras_all.cells.finder import BLANK_FIELD, NO_COLOUR, find_cells
from keras_all.cells.scale import Scale, estimate_scale
from keras_all.cells.scoring import average_precision, detection_scores, match, overlaps
from keras_all.data import load_dataset
from keras_all.data.fields import boxes_of, read_fields
from keras_all.data.io import read_image
from keras_all.data.samples import DatasetLayoutError
from keras_all.data.synthetic import write_dataset

from .helpers import cli, counted_decodes, shell, table_rows


def test_bccd_as_published(shared_path):
    bccd = read_fields("bccd", shared_path("bccd"))
    counts = bccd.counts()
    assert counts["all"]["fields"] == 364 and counts["all"]["marks"]["WBC"] == 372
    assert {s: counts["splits"][s]["fields"] for s in ("train", "val", "test")} == {"train": 205, "val": 87, "test": 72}
    assert counts["splits"]["test"]["marks"]["WBC"] == 71
    white = bccd.marks[bccd.marks["cls"] == "WBC"].groupby("path").size()
    assert (white == 1).sum() == 344 and (white == 2).sum() == 14 and len(bccd.fields) - len(white) == 6
    # its two zero-size red-cell boxes are left out and named, not read as cells
    assert len(bccd.bad_marks) == 2 and bccd.bad_marks["reason"].str.contains("encloses nothing").all()
    assert ((bccd.marks["x1"] > bccd.marks["x0"]) & (bccd.marks["x1"] <= 640) & (bccd.marks["y1"] <= 480)).all()
    test = bccd.only("test")
    assert len(test.fields) == 72 and set(test.marks["path"]) <= set(test.fields["path"])
    with pytest.raises(ValueError, match="no split 'dev'; this set has test, train, val"):
        bccd.only("dev")


def _voc(root, name, objects, size=(64, 48)):
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (root / "Annotations").mkdir(exist_ok=True)
    cv2.imwrite(str(root / "JPEGImages" / f"{name}.jpg"), np.full((size[1], size[0], 3), 200, np.uint8))
    items = "".join(f"<object><name>{cls}</name><truncated>{int(cut)}</truncated><bndbox><xmin>{x0}</xmin>"
                    f"<ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
                    for cls, (x0, y0, x1, y1), cut in objects)
    (root / "Annotations" / f"{name}.xml").write_text(
        f"<annotation><filename>{name}.jpg</filename><size><width>{size[0]}</width><height>{size[1]}</height>"
        f"</size>{items}</annotation>")


def test_a_voc_box_past_the_border_is_cut_and_a_broken_file_is_named(tmp_path):
    _voc(tmp_path, "a", [("WBC", (50, 10, 70, 30), True), ("RBC", (1, 1, 9, 9), False)])
    found = read_fields("voc", tmp_path)
    assert found.fields["split"].tolist() == [""] and found.counts()["all"]["marks"] == {"RBC": 1, "WBC": 1}
    white = found.marks[found.marks["cls"] == "WBC"].iloc[0]
    assert (white["x1"], white["truncated"]) == (64, True)
    (tmp_path / "Annotations" / "b.xml").write_text("<annotation><filename>b.jpg</filename>")
    with pytest.raises(DatasetLayoutError, match=r"b\.xml: not readable XML"):
        read_fields("voc", tmp_path)
    (tmp_path / "Annotations" / "b.xml").write_text("<annotation><filename>a.jpg</filename><size><width>64</width>"
                                                    "</size></annotation>")
    with pytest.raises(DatasetLayoutError, match=r"b\.xml: no <height> where a Pascal VOC annotation has one"):
        read_fields("voc", tmp_path)
    with pytest.raises(DatasetLayoutError, match="not a Pascal VOC folder"):
        read_fields("voc", tmp_path / "JPEGImages")


@pytest.mark.shell
def test_a_voc_box_wholly_outside_its_field_is_counted_and_named_by_cells(shared_path, tmp_path):
    bccd = Path(shared_path("bccd")) / "BCCD"
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "Annotations").mkdir()
    shutil.copy(bccd / "JPEGImages" / "BloodImage_00000.jpg", tmp_path / "JPEGImages")
    outside = ("<object><name>WBC</name><truncated>0</truncated><bndbox><xmin>700</xmin><ymin>10</ymin>"
               "<xmax>760</xmax><ymax>60</ymax></bndbox></object></annotation>")
    xml = tmp_path / "Annotations" / "BloodImage_00000.xml"
    xml.write_text((bccd / "Annotations" / "BloodImage_00000.xml").read_text().replace("</annotation>", outside))
    done = shell("cells", "--dataset", "voc", "--data-dir", tmp_path, "--red-cell-px", 100, "--output",
                 tmp_path / "out")
    assert done.returncode == 0, done.stderr
    why = f"{xml}: object 21 box (700, 10, 760, 60) lies wholly outside the 640x480 field"
    assert f"warning: box left out: {why}" in done.stderr.splitlines()
    assert "1 marked boxes left out (warnings above)" in done.stdout and "against 1 marked cells" in done.stdout
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["marks_left_out"] == [{"path": str(tmp_path / "JPEGImages" / "BloodImage_00000.jpg"),
                                          "reason": why}]
    assert metrics["iou_0.5"]["marked"] == 1 and why in (tmp_path / "out" / "report.md").read_text()


def _yolo_field(images, labels, name, lines, size=(100, 50)):
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(images / f"{name}.png"), np.zeros((size[1], size[0], 3), np.uint8))
    if lines is not None:
        (labels / f"{name}.txt").write_text("".join(line + "\n" for line in lines))


@pytest.mark.parametrize("arrangement", ["images/train", "train/images"])
def test_yolo_folders_with_splits_either_way_and_classes_from_data_yaml(tmp_path, arrangement):
    for split in ("train", "valid"):
        where = arrangement.replace("train", split)
        _yolo_field(tmp_path / where, tmp_path / where.replace("images", "labels"), f"f_{split}",
                    ["1 0.5 0.5 0.2 0.4", "0 0.1 0.1 0.1 0.1"])
    _yolo_field(tmp_path / arrangement, tmp_path / arrangement.replace("images", "labels"), "empty", None)
    (tmp_path / "data.yaml").write_text("names: {0: RBC, 1: WBC}\n")
    found = read_fields("yolo", tmp_path)
    assert sorted(found.fields["split"]) == ["train", "train", "val"]
    assert found.counts()["splits"]["train"] == {"fields": 2, "marks": {"RBC": 1, "WBC": 1},
                                                "fields_without_marks": 1, "bad_marks": 0}
    white = found.marks[(found.marks["cls"] == "WBC") & found.marks["path"].str.endswith("f_train.png")]
    np.testing.assert_allclose(boxes_of(white), [[40, 15, 60, 35]])


def test_a_bad_yolo_line_or_missing_class_names_are_named(tmp_path):
    _yolo_field(tmp_path / "images", tmp_path / "labels", "a", ["0 0.5 0.5 0.2 0.2", "0 0.5 1.5 0.2"])
    with pytest.raises(DatasetLayoutError, match="no classes.txt or data.yaml"):
        read_fields("yolo", tmp_path)
    (tmp_path / "classes.txt").write_text("WBC\n")
    with pytest.raises(DatasetLayoutError, match=r"labels/a\.txt:2: expected 'class cx cy w h' .* found '0 0\.5 1\.5"):
        read_fields("yolo", tmp_path)
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    assert read_fields("yolo", tmp_path).counts()["all"]["marks"] == {"WBC": 1}


def test_all_idb1_centroids_are_marks_of_no_size(synthetic_tree):
    slides = read_fields("all-idb1", synthetic_tree("all-idb1", 4))
    assert slides.kind == "centroids" and len(slides.fields) == 4
    listed = load_dataset("all-idb1", synthetic_tree("all-idb1", 4)).samples["n_points"].sum()
    assert (slides.marks["cls"] == "blast").all() and len(slides.marks) == listed > 0  # one mark per xyc line
    assert (slides.marks["x0"] == slides.marks["x1"]).all() and (slides.marks["y0"] == slides.marks["y1"]).all()
    blasts = slides.marks.merge(slides.fields, on="path")
    assert blasts["path"].str.contains("_1.").all()  # only ALL slides carry blast centroids
    assert ((blasts["x0"] < blasts["width"]) & (blasts["y0"] < blasts["height"])).all()


def test_overlap_and_greedy_matching_by_box_and_by_centre():
    marks = np.array([[0, 0, 10, 10], [20, 0, 30, 10]])
    assert overlaps([[0, 0, 10, 10]], marks).tolist() == [[1.0, 0.0]]
    assert overlaps([[5, 0, 15, 10]], marks)[0, 0] == pytest.approx(50 / 150)
    found = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 2, 30, 12], [100, 100, 110, 110]])
    scores = np.array([0.5, 0.9, 0.8, 0.7])
    # the surer of two boxes on one mark takes it; the other counts as a false find
    assert match(found, scores, marks).tolist() == [False, True, True, False]
    shifted = np.array([[6, 6, 16, 16]])  # centre (11, 11): outside the first mark's box
    assert not match(shifted, [1.0], marks).any() and not match(shifted, [1.0], marks, by="centre").any()
    loose = np.array([[2, 2, 14, 14]])  # overlap 64 / 180 with the first mark, its centre inside it
    assert match(loose, [1.0], marks, by="centre").tolist() == [True] and not match(loose, [1.0], marks).any()


def test_average_precision_of_known_rankings():
    assert average_precision([0.9, 0.8], [True, True], 2) == 1.0
    assert average_precision([0.9, 0.8], [True, True], 4) == 0.5  # half the marks never found
    # hit, miss, hit over 2 marks: recall 0.5 at precision 1, then 1.0 at precision 2/3
    assert average_precision([0.9, 0.8, 0.7], [True, False, True], 2) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert average_precision([], [], 0) is None


def test_detection_scores_over_fields_with_intervals():
    marks = np.array([[0, 0, 10, 10]])
    fields = [(marks, [0.9], marks), (np.array([[50, 50, 60, 60]]), [0.4], marks), (np.zeros((0, 4)), [], marks)]
    scores = detection_scores(fields)
    assert (scores["matched"], scores["found"], scores["marked"]) == (1, 2, 3)
    assert scores["precision"] == 0.5 and scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    low, high = scores["recall_ci"]
    assert 0 < low < 1 / 3 < high < 1 and scores["average_precision"] == pytest.approx(1 / 3)


def test_bccd_marks_found_as_marked_score_one_and_half_a_cell_off_scores_by_centre_only(shared_path):
    test = read_fields("bccd", shared_path("bccd")).only("test")
    white = test.marks[test.marks["cls"] == "WBC"]
    fields = [(boxes_of(white[white["path"] == path]), np.ones((white["path"] == path).sum()),
               boxes_of(white[white["path"] == path])) for path in test.fields["path"]]
    perfect = detection_scores(fields)
    assert perfect["f1"] == 1.0 and perfect["marked"] == 71 and perfect["average_precision"] == 1.0
    # moved right by 0.4 of its width, a box overlaps its mark by 0.6 / 1.4 and keeps its centre inside it
    moved = [(found + 0.4 * (found[:, 2:3] - found[:, 0:1]) * [1, 0, 1, 0], s, m) for found, s, m in fields]
    assert detection_scores(moved)["f1"] == 0 and detection_scores(moved, by="centre")["f1"] == 1.0


def _rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _bccd_scale(bccd):
    """A red cell's diameter on BCCD: the median red-cell box of its training list."""
    red = bccd.only("train").marks.query("cls == 'RBC'")
    return Scale(float(np.median(np.sqrt((red["x1"] - red["x0"]) * (red["y1"] - red["y0"])))))


def test_the_finder_finds_bccd_validation_white_cells_at_their_scale(shared_path):
    bccd = read_fields("bccd", shared_path("bccd"))
    scale, val = _bccd_scale(bccd), bccd.only("val")
    assert 95 < scale.red_cell_px < 110 and scale.um_per_px == pytest.approx(0.0735, abs=0.005)
    fields = []
    for path in val.fields["path"]:
        found = find_cells(_rgb(path), scale)
        assert found.boxes.shape == (len(found), 4) and (found.scores > 0).all() and (found.scores <= 1).all()
        fields.append((found.boxes, found.scores, boxes_of(val.marks.query("cls == 'WBC' and path == @path"))))
    by_box, by_centre = detection_scores(fields), detection_scores(fields, by="centre")
    assert by_box["marked"] == 87 and by_box["f1"] >= 0.98 and by_centre["f1"] >= 0.98  # the trivial finder: 0.43


def _red_cell_truth(marks):
    """Per field, the median red-cell box (its diameter in pixels) of the boxes the border does not cut."""
    red = marks[(marks["cls"] == "RBC") & ~marks["truncated"].astype(bool)]
    return red.assign(size=np.sqrt((red["x1"] - red["x0"]) * (red["y1"] - red["y0"]))).groupby("path")["size"].median()


def test_the_scale_is_measured_from_the_red_cells_at_any_magnification(shared_path):
    val = read_fields("bccd", shared_path("bccd")).only("val")
    truth = _red_cell_truth(val.marks)
    paths = [p for p in val.fields["path"] if p in truth.index][::2]
    for factor in (1.0, 0.5, 1.6):
        estimates = []
        for path in paths:
            image = _rgb(path)
            if factor != 1:
                image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
            estimate = estimate_scale(image)
            estimates.append(np.nan if estimate is None else estimate.red_cell_px / factor)
            assert estimate is None or (estimate.source == "estimated" and estimate.arcs > 0)
        error = np.abs(np.array(estimates) / truth[paths].to_numpy() - 1)
        assert np.mean(error < 0.15) >= 0.8, (factor, np.round(error, 2))
        assert np.nanmedian(estimates) == pytest.approx(truth[paths].median(), rel=0.05)


def test_a_field_without_red_cells_gives_no_sure_scale(shared_path):
    hopper = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)  # a photograph, not a smear
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    for image in (np.zeros((480, 640, 3), np.uint8), np.full((480, 640, 3), 255, np.uint8), noise, _rgb(hopper)):
        estimate = estimate_scale(image)
        assert estimate is None or not estimate.sure
    with pytest.raises(ValueError, match="no red cell outlines on this field to measure its scale by"):
        find_cells(np.full((480, 640, 3), 200, np.uint8))
    field = _rgb(read_fields("bccd", shared_path("bccd")).only("val").fields["path"][0])
    assert estimate_scale(field).sure and len(find_cells(field)) == 1


def test_touching_cells_are_split_between_their_nuclei_and_masks_match_boxes(shared_path):
    train = read_fields("bccd", shared_path("bccd")).only("train")
    white = train.marks[train.marks["cls"] == "WBC"]
    touching = []  # fields with two marked white cells whose boxes touch or overlap
    for path, marks in white.groupby("path"):
        boxes = boxes_of(marks)
        if len(boxes) == 2 and max(boxes[0, 0] - boxes[1, 2], boxes[1, 0] - boxes[0, 2], boxes[0, 1] - boxes[1, 3],
                                   boxes[1, 1] - boxes[0, 3]) <= 0:
            found = find_cells(_rgb(path), Scale(102))
            touching.append(len(found) == 2 and match(found.boxes, found.scores, boxes).all())
            assert found.labels.shape == (480, 640) and set(np.unique(found.labels)) == set(range(len(found) + 1))
            for number, box in enumerate(found.boxes, start=1):
                rows, cols = np.nonzero(found.labels == number)
                assert np.allclose([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], box, atol=102 / 24 + 1)
    assert len(touching) == 4 and sum(touching) >= 3  # 00313's two nuclei touch: one cell found there
    # two synthetic nuclei whose cytoplasm overlaps: one cell each, split half way
    field = np.full((240, 320, 3), 235, np.uint8)
    for x in (130, 185):  # 0.4 red cells apart: further than a nucleus's lobes join, nearer than two cytoplasms
        cv2.circle(field, (x, 120), 18, (120, 60, 190), -1)
    two = find_cells(field, Scale(48))
    assert len(two) == 2 and not two.at_border.any()
    left, right = two.labels[120, 130], two.labels[120, 185]
    assert left != right and (two.labels[120, 150:157] == left).all() and (two.labels[120, 159:166] == right).all()


def test_the_same_field_at_half_the_magnification_gives_the_same_cells(shared_path):
    bccd = read_fields("bccd", shared_path("bccd"))
    scale, image = _bccd_scale(bccd), _rgb(bccd.only("val").fields["path"][0])
    full = find_cells(image, scale)
    half = find_cells(cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
                      Scale(scale.red_cell_px / 2))
    assert len(full) == len(half) >= 1
    assert np.diag(overlaps(full.boxes, half.boxes * 2)).min() > 0.8


@pytest.mark.parametrize("fill", [0, 255, 128])
def test_blank_fields_hold_no_cell(fill):
    found = find_cells(np.full((480, 640, 3), fill, np.uint8), Scale(100))
    assert len(found) == 0 and not found.judged and found.why_not_judged == "cannot be judged: " + BLANK_FIELD


@pytest.mark.parametrize("source, pattern, red_cell_px", [
    ("bccd", "BCCD/JPEGImages/*.jpg", 100), ("raabin-fields", "images/*/*.jpg", 90),
    ("aria-all", "Original/*/*.jpg", 20), ("pbc", "*/*.jpg", 45), ("cnmc-sample", "**/*.bmp", 60)])
def test_stained_images_of_every_lab_are_judged_and_their_grayscale_copies_are_not(shared_path, source, pattern,
                                                                                  red_cell_px):
    every = sorted(shared_path(source).glob(pattern))
    assert len(every) >= 50, source
    for path in every[::len(every) // 8]:  # eight or nine spread over the set
        image = read_image(path)
        gray = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
        assert find_cells(image, Scale(red_cell_px)).judged, path
        found = find_cells(gray, Scale(red_cell_px))
        assert (found.field, len(found)) == (NO_COLOUR, 0), path


def test_a_field_of_noise_holds_no_cell():
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert len(find_cells(noise, Scale(100))) == 0


@pytest.mark.parametrize("um_per_px, message", [(0, "must be a positive number"), (-1, "must be a positive number"),
                                                (100, "a red cell of 0.075 pixels"), (1e-5, "give a scale between")])
def test_an_absurd_scale_is_refused_with_one_line(um_per_px, message):
    with pytest.raises(ValueError, match=message):
        Scale.from_um_per_px(um_per_px)


def test_cells_on_a_marked_split_writes_the_folder_and_scores_it(shared_path, tmp_path, monkeypatch):
    out = tmp_path / "val"
    decodes = counted_decodes(monkeypatch)
    result = cli("cells", "--dataset", "bccd", "--data-dir", shared_path("bccd"), "--split", "val",
                 "--red-cell-px", 102, "--output", out)
    assert result.exit_code == 0, result.output
    assert "against 87 marked cells: F1 0.9" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["fields"] == 87 and metrics["iou_0.5"]["marked"] == 87 and metrics["iou_0.5"]["f1"] >= 0.95
    assert metrics["iou_0.5"]["f1"] <= metrics["centre_in_box"]["f1"]  # centre in box is the looser match
    cells = pd.read_csv(out / "cells.csv")
    assert len(cells) == metrics["cells"] == metrics["iou_0.5"]["found"]
    assert (cells["x0"] < cells["cx"]).all() and (cells["cx"] < cells["x1"]).all()
    assert cells["um_per_px"].eq(7.5 / 102).all() and cells["area_um2"].between(20, 800).all()
    fields = pd.read_csv(out / "fields.csv")
    assert len(fields) == 87 and fields["marked"].sum() == 87 and fields["cells"].sum() == len(cells)
    assert set(decodes) == set(fields["image"]) and set(decodes.values()) == {1}  # measured and searched, decoded once
    assert sorted(metrics["fields_without_cells"]) == sorted(fields.loc[fields["cells"] == 0, "image"])
    assert len(list((out / "overlays").glob("*.jpg"))) == 87
    report = (out / "report.md").read_text()
    rows = [row[:3] for row in table_rows(report)]
    assert ["all", "IoU >= 0.5", "87"] in rows and ["all", "centre in box", "87"] in rows
    assert not list(tmp_path.glob(".val.partial*"))


@pytest.mark.shell
def test_cells_on_unmarked_files_from_the_shell_and_its_refusals(shared_path, tmp_path):
    bccd = read_fields("bccd", shared_path("bccd")).only("val")
    folder = tmp_path / "fields"
    folder.mkdir()
    for path in bccd.fields["path"][:3]:
        shutil.copy(path, folder)
    cv2.imwrite(str(folder / "blank.png"), np.full((480, 640, 3), 230, np.uint8))
    shutil.copy(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), folder / "photo.jpg")
    (folder / "notes.txt").write_text("not an image")
    # a field saved in one channel, as a grayscale camera saves it, and one named in bytes that are not UTF-8
    cv2.imwrite(str(folder / "gray.jpg"), cv2.imread(bccd.fields["path"][3], cv2.IMREAD_GRAYSCALE))
    shutil.copy(bccd.fields["path"][4], bytes(folder) + b"/field caf\xe9 one.jpg")
    done = shell("cells", folder, "--output", tmp_path / "out")  # no scale: the red cells measure it
    assert done.returncode == 0, done.stderr
    assert "not a readable image" not in done.stderr and "notes.txt" not in done.stdout
    assert f"skipped 1 files that are not image files (no image extension; the first: {folder / 'notes.txt'})" in \
        done.stderr.splitlines()
    for name, why in (("gray.jpg", "no colour (grayscale), not a stained smear"),
                      ("blank.png", "blank (one colour), not a smear")):
        assert f"warning: {folder / name}: cannot be judged: {why}; it is left out of the figures" in done.stderr
    assert "1 fields without a cell found; 2 cannot be judged" in done.stdout
    assert "the median of the fields' sure estimates" in done.stdout
    out = tmp_path / "out"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["fields"] == 7 and metrics["fields_left_out"] == []
    assert [Path(p).name for p in metrics["fields_without_cells"]] == ["photo.jpg"]
    assert sorted(Path(p).name for p in metrics["fields_not_judged"]) == ["blank.png", "gray.jpg"]
    assert metrics["scale"]["source"] == "median of the fields" and 85 < metrics["scale"]["red_cell_px"] < 125
    assert metrics["scale"]["fields_sure_of_their_own"] >= 2
    fields = pd.read_csv(out / "fields.csv")
    fields = fields.set_index(fields["image"].map(lambda p: Path(p).name))
    assert fields.loc["blank.png", "note"] == "cannot be judged: blank (one colour), not a smear"
    assert fields.loc["gray.jpg", "note"] == "cannot be judged: no colour (grayscale), not a stained smear"
    assert not fields.loc[["blank.png", "gray.jpg"], "judged"].any() and fields["judged"].sum() == 5
    assert fields.loc["photo.jpg", "note"].startswith("no cell found; too few red cells to measure its scale")
    smears = fields.loc[[*(Path(p).name for p in bccd.fields["path"][:3]), "field caf\\xe9 one.jpg"]]
    assert (smears["cells"] >= 1).all() and smears["scale_source"].eq("median of the fields").all()
    cells = pd.read_csv(out / "cells.csv")  # the odd name printed readably, and only judged fields' cells
    assert (cells["image"] == str(folder / "field caf\\xe9 one.jpg")).sum() == fields.loc["field caf\\xe9 one.jpg",
                                                                                            "cells"]
    assert not cells["image"].str.contains("gray|blank").any() and metrics["cells"] == len(cells)
    assert len(list((out / "masks").glob("*.png"))) == len(list((out / "overlays").glob("*.jpg"))) == 7
    assert (out / "overlays" / "00005_field caf\\xe9 one.jpg").is_file()
    mask = cv2.imread(str(sorted((out / "masks").glob("*.png"))[0]), cv2.IMREAD_UNCHANGED)
    assert mask.dtype == np.uint16 and mask.shape == (480, 640) and mask.max() == fields["cells"].iloc[0]
    report = (out / "report.md").read_text()
    assert "nothing to score against" in report and "Fields that cannot be judged" in report
    (folder / "blank.png").rename(tmp_path / "blank.png")
    for args, message in ((("--um-per-px", 0.07, "--red-cell-px", 100, "--output", tmp_path / "x"), "not both"),
                          (("--red-cell-px", 100, "--scale-per-field", "--output", tmp_path / "x"), "no given scale"),
                          (("--um-per-px", 50, "--output", tmp_path / "x"), "a red cell of 0.15 pixels"),
                          (("--red-cell-px", 100, "--output", out), "folder exists and is not empty"),
                          (("--red-cell-px", 100, "--split", "val", "--output", tmp_path / "x"), "give --dataset")):
        refused = cli("cells", folder, *args)
        assert refused.exit_code == 1 and message in refused.output.strip().splitlines()[-1], refused.output
    unmeasurable = cli("cells", tmp_path / "blank.png", "--output", tmp_path / "x")
    assert unmeasurable.exit_code == 1 and "no field shows enough red cells to measure the scale by" in \
        unmeasurable.output and "--um-per-px" in unmeasurable.output.strip().splitlines()[-1]
    wrong = cli("cells", "--dataset", "bccd", "--data-dir", shared_path("bccd"), "--cell-class", "wbc",
                "--red-cell-px", 100, "--output", tmp_path / "x")
    assert wrong.exit_code == 1 and "no marks of class 'wbc' (its classes: Platelets, RBC, WBC)" in wrong.output
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.partial*"))


def test_cells_cut_out_on_black_are_one_cell_each(shared_path, tmp_path):
    images = sorted(shared_path("cnmc-sample").rglob("*.bmp"))
    assert len(images) == 52
    for red_cell_px in (60, 100, 150):  # C-NMC states no scale; the count must not hang on a guess
        found = [find_cells(_rgb(path), Scale(red_cell_px)) for path in images]
        assert {f.field for f in found} == {"cut out on black"}
        assert [len(f) for f in found].count(1) >= 50  # one cell per image, whatever debris lies beside it
    black = _rgb(images[0]).max(axis=2) <= 10
    assert (found[0].labels > 0).sum() > 0.9 * (~black).sum()  # the cell's mask is the part that is not black
    done = cli("cells", images[0].parent, "--red-cell-px", 100, "--output", tmp_path / "out")
    assert done.exit_code == 0, done.output
    fields = pd.read_csv(tmp_path / "out" / "fields.csv")
    assert fields["note"].eq("cut out on black").all() and fields["cells"].eq(1).sum() >= len(fields) - 1


@pytest.mark.shell
def test_the_same_fields_as_a_yolo_folder_give_the_same_cells_and_scores(shared_path, tmp_path):
    val = read_fields("bccd", shared_path("bccd")).only("val")
    paths = list(val.fields["path"][:6])
    for split, chosen in (("train", paths[:4]), ("valid", paths[4:])):
        (tmp_path / "yolo" / split / "images").mkdir(parents=True)
        (tmp_path / "yolo" / split / "labels").mkdir()
        for path in chosen:
            shutil.copy(path, tmp_path / "yolo" / split / "images")
            marks = val.marks[val.marks["path"] == path]
            lines = [f"{['RBC', 'WBC', 'Platelets'].index(m.cls)} {(m.x0 + m.x1) / 1280} {(m.y0 + m.y1) / 960} "
                     f"{(m.x1 - m.x0) / 640} {(m.y1 - m.y0) / 480}" for m in marks.itertuples()]
            (tmp_path / "yolo" / split / "labels" / f"{Path(path).stem}.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "yolo" / "data.yaml").write_text("names: [RBC, WBC, Platelets]\n")
    as_yolo = shell("cells", "--dataset", "yolo", "--data-dir", tmp_path / "yolo", "--red-cell-px", 102,
                    "--output", tmp_path / "from-yolo")
    assert as_yolo.returncode == 0, as_yolo.stderr
    got = json.loads((tmp_path / "from-yolo" / "metrics.json").read_text())
    assert set(got["by_split"]) == {"train", "val"} and got["iou_0.5"]["marked"] == 6
    found = [find_cells(_rgb(path), Scale(102)) for path in paths]
    expected = detection_scores([(f.boxes, f.scores, boxes_of(val.marks.query("cls == 'WBC' and path == @p")))
                                 for f, p in zip(found, paths)])
    assert {k: got["iou_0.5"][k] for k in ("matched", "found", "f1")} == {k: expected[k] for k in
                                                                          ("matched", "found", "f1")}


def test_fields_of_two_magnifications_each_at_their_own_scale(shared_path, tmp_path):
    val = read_fields("bccd", shared_path("bccd")).only("val")
    paths = [p for p in val.fields["path"][:12] if len(val.marks.query("cls == 'WBC' and path == @p")) == 1][:6]
    for number, path in enumerate(paths):  # half of them as another microscope would show them: at half the size
        image = cv2.imread(path)
        if number % 2:
            image = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(tmp_path / f"{number}.png"), image)
    done = cli("cells", *sorted(tmp_path.glob("*.png")), "--scale-per-field", "--output", tmp_path / "out")
    assert done.exit_code == 0, done.output
    fields = pd.read_csv(tmp_path / "out" / "fields.csv")
    own = fields[fields["scale_source"] == "this field"]
    assert len(own) >= 4 and (fields["cells"] >= 1).all()
    halves = own["image"].map(lambda p: int(Path(p).stem) % 2 == 1)
    assert own.loc[halves, "red_cell_px"].median() == pytest.approx(own.loc[~halves, "red_cell_px"].median() / 2,
                                                                    rel=0.2)
    wrong = cli("cells", tmp_path / "0.png", "--red-cell-px", 250, "--output", tmp_path / "wrong")
    assert wrong.exit_code == 0, wrong.output
    note = pd.read_csv(tmp_path / "wrong" / "fields.csv")["note"][0]
    assert "its red cells measure" in note and note.endswith("not the 250 px used (given)")


def test_all_idb1_blast_centroids_lie_on_found_cells(tmp_path):
    write_dataset("all-idb1", tmp_path / "slides", 4, seed=0)  # two slide sizes, as ALL-IDB1's two cameras
    done = cli("cells", "--dataset", "all-idb1", "--data-dir", tmp_path / "slides", "--scale-per-field",
               "--output", tmp_path / "out")
    assert done.exit_code == 0, done.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    held = metrics["centroids_in_cells"]
    assert held["marked"] == 8 and held["inside"] == 8 and "8 of 8 marked centroids lie on a found cell" in done.output
    fields = pd.read_csv(tmp_path / "out" / "fields.csv")
    assert (fields["cells"] >= fields["centroids"]).all() and fields["scale_source"].eq("this field").all()
    assert fields.loc[fields["image"].str.endswith("_0.jpg"), "centroids"].eq(0).all()
    assert "on a found cell's mask: 8 of 8" in (tmp_path / "out" / "report.md").read_text()
