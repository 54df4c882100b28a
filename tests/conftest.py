"""Shared fixtures: the real data in ../shared/data and small synthetic trees in every layout."""

from __future__ import annotations

import os
from pathlib import Path


def _one_share_of_the_cores() -> None:
    """Under pytest-xdist, each worker (and every `keras-all` it starts) gets its share of the cores for the
    thread pools of TensorFlow, XLA and OpenCV, before any is imported: two workers whose pools each span every
    core spin against each other."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", threads)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", threads)
    os.environ.setdefault("OMP_NUM_THREADS", threads)
    os.environ.setdefault("OPENCV_FOR_THREADS_NUM", threads)
    if threads == "1":
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()


_one_share_of_the_cores()

import pytest  # noqa: E402

from keras_all.data.synthetic import write_dataset  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_path():
    """Path under ../shared/data, or a skip naming what is missing (a user's fresh clone lacks it)."""

    def resolve(relative: str) -> Path:
        path = (SHARED_DATA / relative).resolve()
        if not path.exists():
            pytest.skip(f"real data not available: {path} is absent (it ships beside the repository in CI)")
        return path

    return resolve


@pytest.fixture(scope="session")
def synthetic_tree(tmp_path_factory):
    """Factory for synthetic trees, written once per (layout, n, seed) and shared read-only."""
    made: dict[tuple, Path] = {}

    def make(layout: str, n: int, seed: int = 0) -> Path:
        key = (layout, n, seed)
        if key not in made:
            made[key] = tmp_path_factory.mktemp(layout)
            write_dataset(layout, made[key], n, seed)
        return made[key]

    return make


@pytest.fixture(scope="session")
def readme_walk(tmp_path_factory):
    """The README's commands, each run as the installed `keras-all` in its own process from a folder of its own
    (relative paths would resolve there), in order:
    synth -> inspect -> train -> evaluate -> export -> predict -> report -> compare -> preprocess.

    `train` layers a preset (demo), a YAML file (tiny.yaml) and two options, as a user may.

    The run folder is made beforehand holding only an INCOMPLETE marker (what a run that stopped before its
    first fold leaves): a fresh `train` must take it over. Returns the folder and each step's result.
    """
    from .helpers import shell, tiny_config

    root = tmp_path_factory.mktemp("walk")
    (root / "run").mkdir()
    (root / "run" / "INCOMPLETE").write_text("this run has not finished\n")
    data = root / "cnmc"
    steps = {
        "synth": ("synth", "--layout", "c-nmc", "--output", data, "--n", 54),
        "inspect": ("inspect", "--dataset", "c-nmc", "--data-dir", data, "--json"),
        "train": ("train", "--dataset", "c-nmc", "--data-dir", data, "--preset", "demo", "--config",
                  tiny_config(root), "--output", root / "run", "--epochs", 2, "--seed", 5),
        "evaluate": ("evaluate", "--model", root / "run", "--dataset", "c-nmc", "--data-dir", data, "--output",
                     root / "evaluation"),
        "export": ("export", "--model", root / "run", "--output", root / "export"),
        "predict": ("predict", "--model", root / "export", data, "--output", root / "predictions.csv"),
        "report": ("report", root / "run"),
        "compare": ("compare", root / "run", root / "run"),
        "preprocess": ("preprocess", "--dataset", "c-nmc", "--data-dir", data, "--output", root / "fig", "--n", 2,
                       "--spike-size", 32, "--input-size", 32),
    }
    results = {}
    for name, args in steps.items():
        results[name] = shell(*args, cwd=root)
        if results[name].returncode != 0:
            break  # the walk test names the step that failed
    return root, results


@pytest.fixture(scope="session")
def tiny_run(readme_walk):
    """The one tiny finished run of the session (2 folds of 2 epochs, seed 5, on 48 synthetic C-NMC cells), as
    the README walk's `train` made it: (run folder, data folder, the train step's console output)."""
    root, results = readme_walk
    assert "train" in results and results["train"].returncode == 0, "the README walk's train failed"
    return root / "run", root / "cnmc", results["train"].stdout


@pytest.hookimpl(wrapper=True)  # around pytest-xdist's own hook, which reads the groups
def pytest_collection_modifyitems(items):
    """Under pytest-xdist (`--dist loadgroup`), every test of the README walk's run goes to one worker, so
    that the session's tiny run is trained once."""
    for item in items:
        if "readme_walk" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("readme_walk"))
    return (yield)
