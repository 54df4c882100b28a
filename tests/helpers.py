"""Helpers shared by the test modules: the CLI runner and a tiny training configuration."""

from pathlib import Path

import yaml
from click.testing import CliRunner

from keras_all.cli import main

# Small enough that a 2-fold run with its final model takes ~20 s on the CI machine.
TINY = {"name": "tiny", "folds": 2, "epochs": 1, "batch_size": 8, "identity_blocks": 0,
        "widths": [[4, 4, 8], [8, 8, 16], [8, 8, 16]], "front": {"spike_size": 32, "input_size": 32}}


def cli(*args):
    """Invoke `keras-all` in-process with string arguments."""
    return CliRunner().invoke(main, [str(a) for a in args])


def tiny_config(folder: Path, **changes) -> Path:
    """Write TINY (with ``changes``) as a YAML preset in ``folder``; returns its path."""
    path = Path(folder) / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path
