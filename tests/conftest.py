"""Shared fixtures: the real data in ../shared/data and small synthetic trees in every layout."""

from __future__ import annotations

import os
import re
import shlex
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
    """Path under ../shared/data, or a skip naming what is missing (a user's fresh clone lacks it); in CI, where it
    ships beside the repository, a missing folder fails the test instead."""

    def resolve(relative: str) -> Path:
        path = (SHARED_DATA / relative).resolve()
        if not path.exists():
            missing = f"real data not available: {path} is absent (it ships beside the repository in CI)"
            pytest.fail(missing) if os.environ.get("CI") else pytest.skip(missing)
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


README = Path(__file__).resolve().parents[1] / "README.md"
WALK_HEADING = "## A first walk through every command"


def step_names(commands: list[list[str]]) -> list[str]:
    """Each walk step's name: its command, and "COMMAND again" for a command's second step."""
    names = []
    for command in commands:
        names.append(command[1] if command[1] not in names else f"{command[1]} again")
    return names


def readme_walk_steps() -> tuple[str, list[list[str]]]:
    """The README's walk, as written: the text of its tiny.yaml and its `keras-all` commands, split as a shell
    splits them."""
    section = README.read_text().split(WALK_HEADING, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S)
    yaml_text = next(body for kind, body in blocks if kind == "yaml")
    commands = [shlex.split(line) for kind, body in blocks if kind == "bash" for line in body.splitlines()
                if line.startswith("keras-all ")]
    return yaml_text, commands


@pytest.fixture(scope="session")
def readme_walk(tmp_path_factory):
    """The README's walk (``readme_walk_steps``), each command run as the installed `keras-all` in its own process
    from a folder of its own, in order: synth -> inspect -> train -> evaluate -> export -> predict -> report ->
    stress -> compare -> preprocess.

    The run folder is made beforehand holding only an INCOMPLETE marker (what a run that stopped before its
    first fold leaves): a fresh `train` must take it over. Returns the folder and each step's result, by command.
    """
    from .helpers import shell

    root = tmp_path_factory.mktemp("walk")
    (root / "run").mkdir()
    (root / "run" / "INCOMPLETE").write_text("this run has not finished\n")
    yaml_text, commands = readme_walk_steps()
    (root / "tiny.yaml").write_text(yaml_text)
    results = {}
    for name, command in zip(step_names(commands), commands):
        results[name] = shell(*command[1:], cwd=root)
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
    """Every test of the README walk's run is marked `walk` and, under pytest-xdist (`--dist loadgroup`), goes
    to one worker, so that the session's tiny run is trained once; under JAX, `slow_under_jax` is `slow`."""
    import keras

    for item in items:
        if keras.backend.backend() == "jax" and item.get_closest_marker("slow_under_jax"):
            item.add_marker(pytest.mark.slow)
        if "readme_walk" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.walk)
            item.add_marker(pytest.mark.xdist_group("readme_walk"))
    return (yield)
