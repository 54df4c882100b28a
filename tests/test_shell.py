"""What users meet from the shell: every command that loads a model, bad input of every kind and the
messages about it, through the installed `keras-all` in a separate process; where one test checks the same
refusal from several commands or values, one of them runs as a process and the rest in-process."""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from .authors_h5 import write_authors_h5
from .helpers import KERAS_ALL, cli, shell, shell_environment, tiny_config
from .test_bad_input import cut_jpeg, huge_png

pytestmark = [pytest.mark.shell,
              pytest.mark.skipif(KERAS_ALL is None and not os.environ.get("CI"),
                                 reason="the keras-all console script is not installed")]  # in CI: each test fails


def _one_error_line(result):
    """The line a refused command ends with, after exit code 1 and no traceback; ``result`` of `shell` or `cli`."""
    if hasattr(result, "returncode"):
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        return result.stderr.strip().splitlines()[-1]
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output  # not a crash
    return result.output.strip().splitlines()[-1]


@pytest.mark.slow
def test_every_command_that_loads_a_model_works_in_a_fresh_process(readme_walk, tmp_path):
    root, _ = readme_walk
    cell = next((root / "cnmc").rglob("*_all.bmp"))
    for model in (root / "run", root / "export" / "model.keras"):  # the walk predicts with the export folder
        result = shell("predict", "--model", model, cell)
        assert result.returncode == 0, result.stderr
        assert pd.read_csv(io.StringIO(result.stdout))["probability"].between(0, 1).all()
    evaluated = shell("evaluate", "--model", root / "export" / "model.keras", "--dataset", "c-nmc", "--data-dir",
                      root / "cnmc", "--output", tmp_path / "evaluation")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "the exported model's own" in json.loads((tmp_path / "evaluation" / "metrics.json").read_text())[
        "cutoff_source"]


def test_a_users_own_keras_load_model_reads_every_model_file_after_import_keras_all(readme_walk):
    root, _ = readme_walk
    code = "import sys, keras_all, keras; print(*(type(keras.saving.load_model(f)).__name__ for f in sys.argv[1:]))"
    models = [root / "run" / "model.keras", root / "run" / "fold_0" / "model.keras", root / "export" / "model.keras"]
    loaded = subprocess.run([sys.executable, "-c", code, *map(str, models)], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split()[-3:] == ["SpikeResNetClassifier", "SpikeResNetClassifier", "Functional"]


def test_evaluate_spots_training_images_by_content_from_anywhere(readme_walk, tmp_path):
    root, _ = readme_walk
    shutil.copytree(root / "cnmc", tmp_path / "copy")  # byte-identical copies, another path
    result = shell("evaluate", "--model", os.path.relpath(root / "run", tmp_path), "--dataset", "c-nmc",
                   "--data-dir", "copy", "--output", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    used = json.loads((tmp_path / "out" / "metrics.json").read_text())["images_used_in_training"]
    assert used >= 30 and f"warning: {used} of these images were used to train the model" in result.stdout


def test_predict_names_every_bad_file_and_replaces_its_output_whole(readme_walk, tmp_path):
    root, _ = readme_walk
    folder = tmp_path / "slides"
    folder.mkdir()
    cell = next((root / "cnmc").rglob("*_all.bmp"))
    shutil.copy(cell, folder / "good.bmp")
    shutil.copy(cell, os.fsencode(folder) + b"/caf\xe9.bmp")
    (folder / "huge.png").write_bytes(huge_png())
    (folder / "cut.jpg").write_bytes(cut_jpeg())
    cv2.imwrite(str(folder / "dot.png"), np.zeros((1, 1, 3), np.uint8))
    (folder / "gone.png").symlink_to(tmp_path / "nothing.png")
    (folder / "MANIFEST.tsv").write_text("path\tsha256\n")  # not an image: skipped, not called unreadable
    output = tmp_path / "p.csv"
    output.write_text("an earlier table\n")
    result = shell("predict", "--model", root / "export", folder, "--output", output)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(output, keep_default_na=False).set_index("path")
    errors = {os.path.basename(p): e for p, e in table["error"].items()}
    assert errors["good.bmp"] == "" and errors["caf\\xe9.bmp"] == ""  # predicted, named printably
    assert errors["huge.png"].startswith("is too large to decode")
    assert errors["cut.jpg"].startswith("is a corrupt JPEG")
    assert errors["dot.png"] == "is 1x1 pixels; images need at least 16 on each side"
    assert errors["gone.png"] == "a link to a file that does not exist"
    assert "MANIFEST.tsv" not in errors and "4 of 6 image files could not be read" in result.stderr
    assert result.stderr.count("MANIFEST.tsv") == 1 and f"skipped 1 files that are not image files (no image " \
        f"extension; the first: {folder / 'MANIFEST.tsv'})" in result.stderr


def test_predict_with_nothing_to_predict_fails(readme_walk, tmp_path):
    root, _ = readme_walk
    (tmp_path / "empty").mkdir()
    assert _one_error_line(shell("predict", "--model", root / "run", tmp_path / "empty")) == (
        f"Error: no image files in {tmp_path / 'empty'}; nothing to predict")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_text("text")
    (tmp_path / "bad" / "b.jpg").write_bytes(cut_jpeg())
    assert _one_error_line(cli("predict", "--model", root / "run", tmp_path / "bad")) == (
        "Error: none of the 2 image files could be read; nothing was predicted")


def test_model_and_run_files_that_are_not_what_they_claim_are_named(readme_walk, tmp_path):
    root, _ = readme_walk
    (tmp_path / "model.keras").write_text("not a model")
    line = _one_error_line(shell("predict", "--model", tmp_path / "model.keras", root / "cnmc"))
    assert line.startswith(f"Error: {tmp_path / 'model.keras'}: not a Keras model file")
    shutil.copytree(root / "run", tmp_path / "run")
    (tmp_path / "run" / "metrics.json").write_text('{"protocol": "hon')
    cut_short = f"Error: {tmp_path / 'run' / 'metrics.json'}: not readable JSON"
    cell = next((root / "cnmc").rglob("*_all.bmp"))
    # every command that takes the run refuses it, naming the file, before it scores or writes anything
    evaluate = ("evaluate", "--model", tmp_path / "run", "--dataset", "c-nmc", "--data-dir", root / "cnmc",
                "--output", tmp_path / "evaluation")
    assert _one_error_line(shell(*evaluate)).startswith(cut_short)
    for command in (("report", tmp_path / "run"), ("export", "--model", tmp_path / "run"),
                    ("predict", "--model", tmp_path / "run", cell), ("compare", tmp_path / "run", root / "run")):
        assert _one_error_line(cli(*command)).startswith(cut_short), command
    assert not (tmp_path / "evaluation").exists() and not (tmp_path / "run" / "export").exists()


def test_refusals_come_at_once_before_keras_or_any_field_is_read(tmp_path):
    blocked = tmp_path / "blocked"  # Keras and its backends cannot be imported: a refusal must not need them
    for name in ("keras", "tensorflow", "jax"):
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(f"raise ImportError('{name} was imported before the refusal')\n")
    full, model, data, fields = (tmp_path / name for name in ("full", "model", "data", "fields"))
    for folder in (full, model, data, fields):
        folder.mkdir()
    (full / "earlier.txt").write_text("an earlier result")
    picture = tmp_path / "picture.jpg"
    cv2.imwrite(str(picture), np.full((64, 64, 3), 200, np.uint8))
    shutil.copy(picture, fields / "field.jpg")
    taken = f"Error: {full}: folder exists and is not empty; remove it or pass a new --output"
    cases = [(("train", "--dataset", "c-nmc", "--data-dir", data, "--seed", -1),
              "Error: run.seed=-1: must be an integer in [0, 4294967295]"),
             (("train", "--dataset", "c-nmc", "--data-dir", data, "--config", picture),
              f"Error: {picture}: not a text file; give a YAML configuration as --config"),
             (("train", "--dataset", "c-nmc", "--data-dir", data, "--output", full),
              f"Error: {full}: folder exists and is not empty; pass --resume to continue it or a new --output"),
             (("cells", fields, "--output", full), taken),
             (("slides", "--model", model, fields, "--output", full), taken),
             (("evaluate", "--model", model, "--dataset", "c-nmc", "--data-dir", data, "--output", full), taken),
             (("stress", "--model", model, "--output", full), taken),
             (("demo", "--output", full), taken),
             (("import-weights", picture, "--output", full), taken),
             (("predict", "--model", model, data), f"Error: no image files in {data}; nothing to predict")]
    for command, line in cases:
        refused = shell(*command, env={"PYTHONPATH": str(blocked)})
        assert _one_error_line(refused) == line, command
        assert "red cells measured" not in refused.stdout, command  # before any field is read
    assert os.listdir(full) == ["earlier.txt"] and not list(tmp_path.glob(".full*"))


def test_synth_never_writes_into_a_folder_with_files(tmp_path):
    (tmp_path / "data").mkdir()
    real = tmp_path / "data" / "Im001_1.jpg"
    real.write_bytes(b"a real slide")
    line = _one_error_line(cli("synth", "--dataset", "all-idb1", "--output", tmp_path / "data", "--n", 4))
    assert line == f"Error: {tmp_path / 'data'}: folder exists and is not empty; remove it or pass a new --output"
    assert real.read_bytes() == b"a real slide" and os.listdir(tmp_path / "data") == ["Im001_1.jpg"]


def test_train_refuses_one_class_and_bad_values_before_making_a_folder(synthetic_tree, tmp_path):
    data = tmp_path / "cnmc"
    shutil.copytree(synthetic_tree("c-nmc", 27), data)
    for path in [*data.rglob("hem"), *data.rglob("*prelim_phase_data*")]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    (next(data.rglob("all")) / "UID_1_9_9_all.bmp").write_bytes(b"broken")
    result = shell("train", "--dataset", "c-nmc", "--data-dir", data, "--output", tmp_path / "run",
                   "--on-bad-image", "skip")
    assert _one_error_line(result) == f"Error: {data}: all 12 images are ALL (label 1); training needs images of " \
                                      "both classes"
    assert "warning: skipped bad file: " in result.stderr and "UID_1_9_9_all.bmp" in result.stderr
    for change, option, message in (({}, ("--seed", -1), "run.seed=-1: must be an integer in [0, 4294967295]"),
                                    ({"fit.batch_size": True}, (), "fit.batch_size=True: must be an integer of at "
                                                                   "least 1")):
        config = tiny_config(tmp_path, change)
        line = _one_error_line(cli("train", "--dataset", "c-nmc", "--data-dir", synthetic_tree("c-nmc", 27),
                                   "--config", config, *option, "--output", tmp_path / "run"))
        assert line == f"Error: {message}"
        assert not (tmp_path / "run").exists()


def test_a_name_that_is_not_utf8_is_read_by_inspect_and_train_and_named_readably(synthetic_tree, tmp_path):
    tree = tmp_path / "tree"
    for label in ("all", "hem"):
        (tree / label).mkdir(parents=True)
        for k, cell in enumerate(sorted(synthetic_tree("c-nmc", 27).rglob(f"*_{label}.bmp"))):
            shutil.copy(cell, tree / label / f"{k:02d}.bmp")
    os.rename(tree / "all" / "00.bmp", bytes(tree / "all") + b"/caf\xe9.bmp")  # as copied from an old Windows share
    odd = f"{tree / 'all'}/caf\\xe9.bmp"
    folder = ("--dataset", "folder", "--data-dir", tree, "--positive-class", "all")
    inspected = shell("inspect", *folder, "--json")
    assert inspected.returncode == 0, inspected.stderr
    summary = json.loads(inspected.stdout)
    copied = len(list((tree / "all").iterdir())) + len(list((tree / "hem").iterdir()))
    assert summary["images"] == copied and summary["bad_files"] == [] and summary["ignored_files"] == 0
    trained = shell("train", *folder, "--config", tiny_config(tmp_path), "--output", tmp_path / "run")
    assert trained.returncode == 0, trained.stderr
    splits = pd.read_csv(tmp_path / "run" / "splits.csv")
    assert len(splits) == copied and odd in set(splits["path"])  # named readably, and read like any other
    assert odd in set(pd.read_csv(tmp_path / "run" / "predictions.csv")["path"])


def test_inspect_lists_links_nested_and_misnamed_files_and_says_when_nothing_is_left(synthetic_tree, tmp_path):
    data = tmp_path / "cnmc"
    shutil.copytree(synthetic_tree("c-nmc", 27), data)
    cell = next(data.rglob("all/UID_*.bmp"))
    shutil.copy(cell, cell.with_name(cell.stem + " copy.bmp"))
    (cell.parent / "gone.bmp").symlink_to(tmp_path / "nothing.bmp")
    strict = _one_error_line(cli("inspect", "--dataset", "c-nmc", "--data-dir", data, "--on-bad-image", "error"))
    assert strict.startswith(f"Error: {cell.with_name(cell.stem + ' copy.bmp')}: not a C-NMC cell name")
    result = cli("inspect", "--dataset", "c-nmc", "--data-dir", data, "--json")  # a survey lists bad files
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["images"] == 27 and len(summary["bad_files"]) == 1
    assert summary["ignored_reasons"]["a link to a file that does not exist"] == 1
    # a dangling link where a class folder would be, and a file name that is not UTF-8, in a folder layout
    (tmp_path / "tree" / "blast").mkdir(parents=True)
    shutil.copytree(cell.parent, tmp_path / "tree" / "normal", symlinks=True)
    (tmp_path / "tree" / "lost").symlink_to(tmp_path / "no-such-folder")
    shutil.copy(cell, tmp_path / "tree" / "blast" / "cell.bmp")
    for one, other in (("loop1.bmp", "loop2.bmp"), ("loop2.bmp", "loop1.bmp")):
        (tmp_path / "tree" / "blast" / one).symlink_to(other)
    result = shell("inspect", "--dataset", "folder", "--data-dir", tmp_path / "tree", "--positive-class", "blast")
    assert result.returncode == 0, result.stderr
    listed = result.stdout.splitlines()  # every file left out named under its reason, as bad files are
    reasons = [line.split() for line in listed if line.startswith("  a ")]
    assert [" ".join(words) for words in reasons] == ["a link to a file that does not exist 2",
                                                      "a symbolic-link loop 2"]
    for reason, names in (("a link to a file that does not exist", ("lost", "normal/gone.bmp")),
                          ("a symbolic-link loop", ("blast/loop1.bmp", "blast/loop2.bmp"))):
        at = next(k for k, line in enumerate(listed) if line.startswith(f"  {reason} "))
        assert listed[at + 1:at + 3] == [f"    {tmp_path / 'tree' / name}" for name in names], reason
    (tmp_path / "bad" / "blast").mkdir(parents=True)
    (tmp_path / "bad" / "normal").mkdir()
    for name in ("blast/a.png", "normal/b.png"):
        (tmp_path / "bad" / name).write_text("text")
    line = _one_error_line(cli("inspect", "--dataset", "folder", "--data-dir", tmp_path / "bad", "--positive-class",
                               "blast", "--on-bad-image", "skip"))
    assert "no readable image is left" in line


def test_import_weights_of_the_authors_from_the_shell(synthetic_tree, tmp_path):
    write_authors_h5(tmp_path / "model.h5", 100)
    data = synthetic_tree("c-nmc", 27)
    bare = cli("import-weights", tmp_path / "model.h5", "--output", tmp_path / "bare")
    assert bare.exit_code == 0, bare.output
    assert sorted(os.listdir(tmp_path / "bare")) == ["MODEL_CARD.md", "config.yaml", "resnet.keras"]
    fitted = shell("import-weights", tmp_path / "model.h5", "--output", tmp_path / "fitted", "--dataset", "c-nmc",
                   "--data-dir", data)
    assert fitted.returncode == 0, fitted.stderr
    predicted = shell("predict", "--model", tmp_path / "fitted", data, "--json")
    assert predicted.returncode == 0, predicted.stderr
    assert len([row for row in json.loads(predicted.stdout) if row["probability"] is not None]) == 27


def test_ctrl_c_stops_train_with_code_130_and_marks_the_run(synthetic_tree, tmp_path):
    data = synthetic_tree("c-nmc", 54)
    process = subprocess.Popen([KERAS_ALL, "train", "--dataset", "c-nmc", "--data-dir", str(data),
                                "--config", str(tiny_config(tmp_path, {"fit.epochs": 50})), "--output",
                                str(tmp_path / "run")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,  # each line as printed:
                               env=shell_environment({"PYTHONUNBUFFERED": "1"}),
                               # as from a shell: a pytest-xdist worker ignores SIGINT, and a child would inherit that
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    for line in process.stdout:  # interrupt during the first fold's training
        if "epoch 1/50" in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted" and "Traceback" not in stderr
    assert "stopped by KeyboardInterrupt" in (tmp_path / "run" / "INCOMPLETE").read_text()


def test_presets_are_listed_and_train_takes_one_from_any_working_directory(tiny_run, tmp_path):
    result = shell("presets", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert set(lines) == {"paper_all_idb", "paper_c_nmc", "honest", "demo"}
    assert "489,922 parameters" in lines["paper_all_idb"] and "469,442 parameters" in lines["paper_c_nmc"]
    run, data, _ = tiny_run  # trained with --preset demo --config tiny.yaml --epochs 2, from a folder of its own
    config = yaml.safe_load((run / "config.yaml").read_text())
    # the preset's, the file's and the option's
    assert (config["model"]["bn_momentum"], config["run"]["name"], config["fit"]["epochs"]) == (0.9, "tiny", 2)
    unknown = cli("train", "--dataset", "c-nmc", "--data-dir", data, "--preset", "paper")
    assert _one_error_line(unknown).startswith("Error: unknown preset 'paper': use one of paper_all_idb")


@pytest.mark.slow
def test_a_fold_ensemble_of_a_subsample_is_trained_exported_and_predicted_from_the_shell(synthetic_tree, tmp_path):
    data = synthetic_tree("c-nmc", 54)
    run, export = tmp_path / "run", tmp_path / "export"
    trained = shell("train", "--dataset", "c-nmc", "--data-dir", data, "--config",
                    tiny_config(tmp_path, {"fit.epochs": 2}),
                    "--final", "ensemble", "--max-per-class", 20, "--seed", 1, "--output", run)
    assert trained.returncode == 0, trained.stderr
    assert "fold ensemble (delivered) on the holdout test" in trained.stdout
    summary = json.loads((run / "data_summary.json").read_text())
    assert summary["per_label"] == {"0": 20, "1": 20} and summary["subsample_of"]["max_per_class"] == 20
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["delivered"] == "ensemble"
    folds = [pd.read_csv(run / f"fold_{k}" / "predictions.csv").query("part == 'test'") for k in range(2)]
    delivered = pd.read_csv(run / "predictions.csv").query("part == 'test'")
    np.testing.assert_allclose(delivered["probability"], (folds[0]["probability"].to_numpy()
                                                          + folds[1]["probability"].to_numpy()) / 2, atol=1e-7)
    assert metrics["operating_points"]["youden"]["final_on_test"]["auc"] == pytest.approx(
        metrics["ensemble_on_test"]["auc"])
    assert shell("export", "--model", run, "--output", export).returncode == 0
    predicted = shell("predict", "--model", export, *delivered["path"], "--json", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    served = pd.DataFrame(json.loads(predicted.stdout))
    from keras_all.data import read_image
    from keras_all.loader import load_model
    from keras_all.models import FoldEnsemble

    ensemble = load_model(run / "model.keras").classifier
    assert isinstance(ensemble, FoldEnsemble) and len(ensemble.members) == 2
    expected = [ensemble.predict(read_image(path)[None], verbose=0)[0, 1] for path in served["path"]]
    np.testing.assert_allclose(served["probability"], expected, atol=1e-5)
