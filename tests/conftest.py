"""Shared fixtures: the real data in ../shared/data and small synthetic trees in every layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from keras_all.data.synthetic import write_dataset

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
