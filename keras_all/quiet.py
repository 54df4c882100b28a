"""TensorFlow's C++ start-up lines (CUDA probing on CPU machines, oneDNN and CPU-feature notes) kept off
the console. They are printed before TensorFlow reads TF_CPP_MIN_LOG_LEVEL, so no setting hides them;
they are filtered out of the process's stderr while Keras starts, and every other line is passed on."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from pathlib import Path

START_UP_NOISE = re.compile(
    r"absl::InitializeLog|oneDNN custom operations|cudart_stub|cpu_feature_guard|To enable the following "
    r"instructions|failed call to cuInit|Unable to register cu(DNN|FFT|BLAS) factory|computation placer already "
    r"registered|TF-TRT Warning"
)


@contextlib.contextmanager
def start_up_filtered(noise: re.Pattern = START_UP_NOISE):
    """Capture file descriptor 2 (C++ writes there directly) for the block; re-emit the lines not ``noise``."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to filter (a process started without one)
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not noise.search(line))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


def started_as_command() -> bool:
    """True in the ``keras-all`` console script (which imports this package before its own module runs)."""
    return Path(getattr(sys, "argv", None) and sys.argv[0] or "").name == "keras-all"


def start_keras() -> None:
    """Import Keras (and its backend) with the start-up lines filtered; under TensorFlow, probe the devices
    inside the filter too (the CUDA probe logs its failure on machines without a GPU).

    In the ``keras-all`` command, TensorFlow's later C++ log lines are kept off the console too
    (TF_CPP_MIN_LOG_LEVEL=3 unless set: it is read once, when TensorFlow starts); a library user's
    setting is left alone.
    """
    if "keras" in sys.modules:  # started already
        return
    if started_as_command():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with start_up_filtered():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")
