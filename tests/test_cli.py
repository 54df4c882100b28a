"""The command line, through click's CliRunner."""

import json
import shutil

import pytest

from .helpers import cli as run
from .helpers import shell


def test_help_lists_every_command():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("datasets", "inspect", "synth", "preprocess", "train", "tune", "evaluate", "report", "export",
                    "predict", "demo", "cells"):
        assert command in result.output


@pytest.mark.shell
def test_datasets_lists_the_layouts():
    result = shell("datasets")
    assert result.returncode == 0, result.stderr
    table, legend = result.stdout.split("\n\n", 1)
    holds = dict(line.split()[:2] for line in table.splitlines()[1:])
    assert holds == {"all-idb": "images", "all-idb1": "images,marked,synthetic", "all-idb2": "images,cells,synthetic",
                     "c-nmc": "images,cells,synthetic", "aria": "images,synthetic", "folder": "images",
                     "bccd": "marked,normal", "voc": "marked", "yolo": "marked"}
    assert legend.startswith("holds: images: labelled images; cells: single cells; marked: fields with marked cells")
    for command, takes in (("train", "all-idb|all-idb1|all-idb2|c-nmc|aria|folder"),
                           ("cells", "all-idb1|bccd|voc|yolo"), ("synth", "all-idb1|all-idb2|c-nmc|aria"),
                           ("slides", "all-idb|all-idb1|all-idb2|c-nmc|aria|folder|bccd")):
        assert f"[{takes}]" in shell(command, "--help").stdout.replace("\n", "").replace(" ", ""), command


def test_inspect_counts_the_marks_of_a_field_set_per_split(shared_path):
    bccd = shared_path("bccd")
    result = run("inspect", "--dataset", "bccd", "--data-dir", bccd)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (f"bccd at {bccd} (boxes): 364 fields, marks by class: Platelets 361, RBC 4,153, WBC 372; "
                        "0 fields without a mark; 2 boxes left out (below)")
    assert lines[1].startswith("  test: 72 fields, marks by class: Platelets 69, RBC 805, WBC 71;")
    assert lines[-1] == (f"box left out: {bccd}/BCCD/Annotations/BloodImage_00343.xml: object 4 box (181, 329, 181, "
                         "329) encloses nothing of the 640x480 field")  # each named, with its annotation file
    as_json = json.loads(run("inspect", "--dataset", "bccd", "--data-dir", bccd, "--json").output)
    assert as_json["splits"]["val"]["marks"]["WBC"] == 87
    missing = run("inspect", "--dataset", "yolo", "--data-dir", bccd)
    assert missing.exit_code == 1 and missing.output.strip().endswith(
        f"Error: {bccd}: not a YOLO folder; expected images/ and labels/ (optionally with train/, val/ and test/ "
        "above or below them)")


def test_synth_then_inspect_as_table_and_json(tmp_path):
    result = run("synth", "--dataset", "c-nmc", "--output", tmp_path / "cnmc", "--n", 18, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert "wrote 18 images" in result.output  # --n counts them all: 16 training cells + 2 in the preliminary test
    assert len(list((tmp_path / "cnmc").rglob("*.bmp"))) == 18

    table = run("inspect", "--dataset", "c-nmc", "--data-dir", tmp_path / "cnmc")
    assert table.exit_code == 0, table.output
    assert "images" in table.output and "18" in table.output and "size 450x450" in table.output

    summary = json.loads(run("inspect", "--dataset", "c-nmc", "--data-dir", tmp_path / "cnmc", "--json").stdout)
    assert summary["images"] == 18
    assert summary["per_label"] == {"0": 9, "1": 9}
    assert summary["subjects"]["total"] == 6
    assert summary["image_sizes"] == {"450x450": 18}
    assert summary["duplicates"]["groups"] == 0 and summary["bad_files"] == []


def test_inspect_reports_duplicates_and_skipped_bad_files(tmp_path):
    run("synth", "--dataset", "aria", "--output", tmp_path / "aria", "--n", 12)
    pre = sorted((tmp_path / "aria" / "Original" / "Pre").iterdir())
    shutil.copy(pre[0], pre[0].parent / "WBC-Malignant-Pre-999.jpg")
    pre[1].write_bytes(b"")
    args = ["inspect", "--dataset", "aria", "--data-dir", tmp_path / "aria", "--json"]

    failed = run(*args, "--on-bad-image", "error")
    assert failed.exit_code == 1
    assert failed.output.strip().splitlines()[-1].startswith(f"Error: {pre[1]}: is empty")
    assert "Traceback" not in failed.output

    summary = json.loads(run(*args).stdout)  # inspect surveys: bad files listed, not fatal
    assert summary["duplicates"]["groups"] == 1 and summary["duplicates"]["copies_dropped"] == 1
    assert summary["bad_files"] == [{"path": str(pre[1]), "reason": "is empty (0 bytes)"}]
    assert summary["images"] == 11  # 12 written + 1 copy - 1 duplicate - 1 bad


def test_wrong_folder_is_one_error_line(tmp_path):
    result = run("inspect", "--dataset", "aria", "--data-dir", tmp_path)
    assert result.exit_code == 1
    expected = f"Error: {tmp_path}: no Original/ folder; expected Original/{{Benign,Early,Pre,Pro}}/*.jpg"
    assert result.output.strip() == expected


@pytest.mark.shell
def test_the_smallest_demo_runs_the_whole_pipeline_and_never_overwrites_it(tmp_path):
    result = shell("demo", "--output", tmp_path / "demo", "--n", 45, "--epochs", 1, "--folds", 2)
    assert result.returncode == 0, result.stderr
    assert "final model on the holdout test" in result.stdout
    run_dir = tmp_path / "demo" / "run"
    assert not (run_dir / "INCOMPLETE").exists() and (run_dir / "model.keras").is_file()
    assert json.loads((run_dir / "data_summary.json").read_text())["images"] == 45
    assert len(json.loads((run_dir / "metrics.json").read_text())["folds"]) == 2
    again = run("demo", "--output", tmp_path / "demo")
    assert again.exit_code == 1 and f"{tmp_path / 'demo'}: folder exists and is not empty" in again.output


@pytest.mark.slow
def test_the_demo_learns_morphology_from_the_embedded_default_data(tmp_path):
    """Synthetic cells whose classes differ only in morphology: the demo's honest cross-validation at 64x64
    learns them (a smaller demo than the default: 270 cells, 240 of them for training, 2 folds of 30 epochs)."""
    result = shell("demo", "--output", tmp_path / "demo", "--n", 270, "--epochs", 30, "--folds", 2)
    assert result.returncode == 0, result.stderr
    assert "validation accuracy" in result.stdout and "final model on the holdout test" in result.stdout
    run_dir = tmp_path / "demo" / "run"
    assert not (run_dir / "INCOMPLETE").exists() and (run_dir / "model.keras").is_file()
    summary = json.loads((run_dir / "data_summary.json").read_text())
    assert summary["images"] == 270 and summary["subjects"]["total"] == 90  # 240 training cells + 30 preliminary
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["folds"]) == 2 and metrics["validation_mean_sd"]["accuracy"]["mean"] >= 0.85


def test_preprocess_writes_figure_per_image_and_contact_sheet(synthetic_tree, tmp_path):
    root = synthetic_tree("all-idb1", 4)  # three slide sizes in one set
    result = run("preprocess", "--dataset", "all-idb1", "--data-dir", root, "--output", tmp_path / "fig", "--n", 3,
                 "--spike-size", 48, "--input-size", 32, "--pca-components", 2)
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "fig").iterdir())
    assert len(written) == 4 and "contact_sheet.png" in written
    for name in written:
        assert (tmp_path / "fig" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_preprocess_rejects_a_bad_pca_value(synthetic_tree, tmp_path):
    result = run("preprocess", "--dataset", "aria", "--data-dir", synthetic_tree("aria", 16), "--output", tmp_path,
                 "--spike-size", 32, "--input-size", 32, "--pca-components", 0)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: pca_components=0.0: give a count of at least 1 or a variance fraction in (0, 1)"
    )


def test_every_option_the_readme_and_docs_give_is_one_the_command_offers():
    """The README's and docs' `keras-all COMMAND ... --option` lines against each command's --help: an option they
    show that the command does not offer (renamed, removed, misspelt) fails, and so does a command they never show."""
    import re
    from pathlib import Path

    from click.testing import CliRunner

    from keras_all.cli import main

    root = Path(__file__).resolve().parents[1]
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    shown: dict[str, set[str]] = {}
    for page in pages:
        # a command's continuation lines (a backslash, or an indented line of options) joined to it
        text = re.sub(r"\\?\n\s+(?=[\[-])", " ", page.read_text().replace("\\\n", " "))
        for line in re.findall(r"keras-all ([a-z-]+(?: [^\n`]*)?)", text):
            words = line.split()
            shown.setdefault(words[0], set()).update(re.findall(r"(?<![\w-])--[a-z][a-z-]*", line))
    commands = set(main.commands)
    assert commands <= set(shown), f"commands no page shows: {sorted(commands - set(shown))}"
    for command, options in shown.items():
        if command not in commands:
            continue  # prose such as "keras-all is ..." or a package name
        offered = set(re.findall(r"--[a-z][a-z-]*", CliRunner().invoke(main, [command, "--help"]).output))
        assert options <= offered, f"{command}: the pages show {sorted(options - offered)}, which --help does not offer"


def test_renamed_options_and_modules_still_work_for_a_release_with_one_warning(tmp_path):
    import importlib
    import sys

    result = shell("synth", "--layout", "aria", "--output", tmp_path / "aria", "--n", 4)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "warning: --layout is now --dataset; the old name goes in the next release"
    assert len(list((tmp_path / "aria").rglob("*.jpg"))) == 4
    refused = shell("train", "--dataset", "aria", "--data-dir", tmp_path / "aria", "--image-size", 32,
                    "--output", tmp_path / "aria")  # the old name is read (and warned of) before the refusal
    assert "warning: --image-size is now --map-size" in refused.stderr and refused.returncode == 1
    for old, new in (("keras_all.fields.finder", "keras_all.cells.finder"),
                     ("keras_all.fields.slides_run", "keras_all.commands.slides")):
        sys.modules.pop(old, None)
        with pytest.warns(FutureWarning, match=f"^{old} is now {new}; the old name goes in the next release$"):
            module = importlib.import_module(old)
        assert module is importlib.import_module(new)


def test_a_whole_image_run_decodes_each_image_once_for_maps_baseline_and_refusal(synthetic_tree, tmp_path,
                                                                                 monkeypatch):
    """Read and checked, mapped, the colour histogram's, the refusal's statistics and the saliency: every look at an
    image within `train` takes the one decode the command holds."""
    from keras_all.data import load_dataset

    from .helpers import counted_decodes, tiny_config

    data_dir = synthetic_tree("c-nmc", 54)
    paths = set(load_dataset("c-nmc", data_dir).samples["path"])
    decodes = counted_decodes(monkeypatch)
    result = run("train", "--dataset", "c-nmc", "--data-dir", data_dir, "--output", tmp_path / "run",
                 "--config", tiny_config(tmp_path))
    assert result.exit_code == 0, result.output
    assert set(decodes) == paths and set(decodes.values()) == {1}
