"""--distribute multi-worker: two processes of the installed `keras-all` on 127.0.0.1, under the suite's backend
(TF_CONFIG for TensorFlow, KERAS_DISTRIBUTION_* for JAX), against one process training on the same global batches;
then a worker killed mid-run, and --resume."""

import json
import os
import signal
import subprocess
import time

import keras
import pytest

from .helpers import KERAS_ALL, TOLERANCE, free_ports, same_training, shell, shell_environment, tiny_config

pytestmark = [pytest.mark.portable, pytest.mark.slow]

def cluster_env(index: int, ports: list[int]) -> dict:
    """What a worker of a two-worker loopback cluster is told, under the suite's backend."""
    if keras.backend.backend() == "tensorflow":
        cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
        return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
    return {"KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{ports[0]}", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
            "KERAS_DISTRIBUTION_PROCESS_ID": str(index)}


def start_workers(args) -> list[subprocess.Popen]:
    ports = free_ports(2)
    return [subprocess.Popen([KERAS_ALL, *map(str, args), "--distribute", "multi-worker"], text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=shell_environment(cluster_env(k, ports)))
            for k in range(2)]


def finish(workers, timeout=600) -> list[tuple[int, str, str]]:
    """Each worker's exit code, stdout and stderr, once all have ended."""
    outputs = [w.communicate(timeout=timeout) for w in workers]
    return [(w.returncode, *output) for w, output in zip(workers, outputs)]


def train_args(data, config, output):
    return ["train", "--dataset", "c-nmc", "--data-dir", data, "--config", config, "--output", output]


def alone_and_together(data, config, tmp_path, *options) -> tuple:
    """Runs "one" (one process) and "two" (two workers) of the same training; what the chief and the worker
    printed."""
    one = shell(*train_args(data, config, tmp_path / "one"), *options)
    assert one.returncode == 0, one.stderr[-3000:]
    (chief_rc, chief_out, chief_err), (worker_rc, worker_out, worker_err) = finish(
        start_workers([*train_args(data, config, tmp_path / "two"), *options]))
    assert chief_rc == 0, chief_out[-2000:] + chief_err[-3000:]
    assert worker_rc == 0, worker_out[-2000:] + worker_err[-3000:]
    two = tmp_path / "two"
    assert not (two / "INCOMPLETE").exists() and (two / "model.keras").is_file() and not (two / "maps").exists()
    return chief_out, worker_out


def test_two_workers_train_as_one_process_does(synthetic_tree, tmp_path):
    config = tiny_config(tmp_path, {"fit.epochs": 3, "fit.augment": False})  # TensorFlow draws augmentation per replica
    chief_out, worker_out = alone_and_together(synthetic_tree("c-nmc", 54), config, tmp_path, "--maps", "stream")
    assert "worker 0 of 2 (chief): joined" in chief_out
    assert "fold 1/2: data-parallel over 2 devices (2 workers" in chief_out
    assert "worker 1 of 2: done; the chief writes the run folder" in worker_out
    same_training(tmp_path / "one", tmp_path / "two", TOLERANCE)


def test_two_workers_train_the_paper_protocol_as_one_process_does(synthetic_tree, tmp_path):
    """The paper protocol holds its pooled augmented copies in memory; the workers cut the same batches of them.
    Its folds take three to four times the steps of the honest ones, and over those steps rounding differences
    grow in the conv biases that batch norm cancels (their gradients are rounding noise, which Adam scales to
    full steps) and so in the moving means that follow them: held-out probabilities agree to about 1e-3 (at
    most 9e-3 measured after 3 epochs) and are held to 2e-2, while the training losses, which those biases cannot
    touch, agree to 1e-4: a different batch or a missing step shows there."""
    config = tiny_config(tmp_path, {"fit.epochs": 2, "fit.augment": False})
    alone_and_together(synthetic_tree("c-nmc", 54), config, tmp_path, "--protocol", "paper")
    same_training(tmp_path / "one", tmp_path / "two", 2e-2)


def test_a_dead_worker_stops_the_run_in_one_line_and_resume_continues(synthetic_tree, tmp_path):
    data = synthetic_tree("c-nmc", 54)
    # a fold lasts seconds: time to kill a worker in one
    config = tiny_config(tmp_path, {"fit.epochs": 3, "fit.stop_on": "off"})
    args = train_args(data, config, tmp_path / "run")
    chief, worker = start_workers(args)
    first_fold = tmp_path / "run" / "fold_0" / "metrics.json"
    deadline = time.monotonic() + 300
    while not first_fold.exists() and chief.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first_fold.exists(), chief.communicate(timeout=60)
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=60)
    out, err = chief.communicate(timeout=300)
    assert chief.returncode == 75, out[-2000:] + err[-3000:]
    stopped = [line for line in err.splitlines() if "another worker died or stopped answering" in line]
    assert len(stopped) == 1 and "start every worker again with --resume" in stopped[0], err[-3000:]
    assert "Traceback" not in err
    assert (tmp_path / "run" / "INCOMPLETE").exists() and not (tmp_path / "run" / "fold_1" / "metrics.json").exists()
    kept = first_fold.read_text()

    (chief_rc, chief_out, chief_err), (worker_rc, worker_out, worker_err) = finish(start_workers([*args, "--resume"]))
    assert chief_rc == 0, chief_out[-2000:] + chief_err[-3000:]
    assert worker_rc == 0, worker_out[-2000:] + worker_err[-3000:]
    for out in (chief_out, worker_out):
        assert "fold 1/2: already finished, kept" in out and "fold 2/2  epoch 3/3" in out
    assert first_fold.read_text() == kept and not (tmp_path / "run" / "INCOMPLETE").exists()
    assert len(json.loads((tmp_path / "run" / "metrics.json").read_text())["folds"]) == 2


def test_a_worker_without_its_cluster_is_told_what_to_set(synthetic_tree, tmp_path):
    variables = ("TF_CONFIG", "KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                 "KERAS_DISTRIBUTION_PROCESS_ID")
    done = subprocess.run([KERAS_ALL, *train_args(synthetic_tree("c-nmc", 54), tiny_config(tmp_path), tmp_path / "r"),
                           "--distribute", "multi-worker"], capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k not in variables})
    assert done.returncode == 1
    wanted = "TF_CONFIG is not set" if keras.backend.backend() == "tensorflow" else "KERAS_DISTRIBUTION_JOB_ADDRESSES"
    assert done.stderr.strip().splitlines()[-1].startswith("Error: --distribute multi-worker: ")
    assert wanted in done.stderr and not (tmp_path / "r").exists()
    bad = ({"TF_CONFIG": "{not json"} if keras.backend.backend() == "tensorflow" else
           {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "127.0.0.1:1", "KERAS_DISTRIBUTION_NUM_PROCESSES": "two",
            "KERAS_DISTRIBUTION_PROCESS_ID": "0"})
    done = subprocess.run([KERAS_ALL, *train_args(synthetic_tree("c-nmc", 54), tiny_config(tmp_path), tmp_path / "r"),
                           "--distribute", "multi-worker"], capture_output=True, text=True, timeout=300,
                          env={**{k: v for k, v in os.environ.items() if k not in variables}, **bad})
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1 and last.startswith("Error: --distribute multi-worker: ")
    assert ("TF_CONFIG" if "TF_CONFIG" in bad else "KERAS_DISTRIBUTION_NUM_PROCESSES='two'") in last
    assert not (tmp_path / "r").exists()
