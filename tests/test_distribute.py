"""--distribute mirrored on two logical CPU devices (a fresh process: devices are fixed at start-up),
with batch-norm recalibration after training."""

import json
import os
import subprocess
import sys

import keras
import pytest
import yaml

from .helpers import TOLERANCE, same_training, shell, tiny_config

pytestmark = [pytest.mark.portable, pytest.mark.slow]

SPLIT_CPU = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from keras_all.cli import main
main(sys.argv[1:])
"""


def test_mirrored_training_on_two_cpu_devices_trains_as_one_device_does(synthetic_tree, tmp_path):
    # recalibration: its in-place statistics update, distributed; augmentation off: TensorFlow draws it per replica
    config = tiny_config(tmp_path, {"fit.recalibrate_bn": True, "fit.epochs": 2, "fit.augment": False})
    data = synthetic_tree("c-nmc", 54)
    env = dict(os.environ)
    if keras.backend.backend() == "jax":
        env["XLA_FLAGS"] = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
        program = ["-c", "import sys; from keras_all.cli import main; main(sys.argv[1:])"]
    else:
        program = ["-c", SPLIT_CPU]
    args = ["train", "--dataset", "c-nmc", "--data-dir", str(data), "--config", str(config), "--output",
            str(tmp_path / "run"), "--distribute", "mirrored"]
    done = subprocess.run([sys.executable, *program, *args], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "fold 1/2: data-parallel over 2 devices" in done.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(metrics["folds"]) == 2 and not (tmp_path / "run" / "INCOMPLETE").exists()
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["fit"]["distribute"] == "mirrored"
    alone = shell("train", "--dataset", "c-nmc", "--data-dir", data, "--config", config, "--output", tmp_path / "one")
    assert alone.returncode == 0, alone.stderr[-3000:]
    same_training(tmp_path / "one", tmp_path / "run", TOLERANCE)
