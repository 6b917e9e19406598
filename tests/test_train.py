"""The shared training loop: resume after SIGKILL, refusal of a foreign run folder, strategies."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from soundtransform import train
from soundtransform.errors import ParameterError


def _train_command(dataset, run_dir, epochs, method="classifier", export_dir=None):
    command = [sys.executable, os.path.join(ROOT, "cli.py"), "train", "--method", method, "--data", dataset,
               "--preset", "tiny", "--run-dir", str(run_dir), "--epochs", str(epochs), "--set", "steps_per_epoch=6"]
    if method != "classifier":
        command += ["--source", "flute", "--target", "keyboard", "--set", f"export_dir={export_dir}"]
    return command


def _saved_epoch(run_dir):
    path = os.path.join(run_dir, "backup", "training_metadata.json")
    try:
        with open(path) as f:
            return json.load(f)["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def _kill_after(command, run_dir, epoch, timeout=240):
    """Start training, SIGKILL it once ``epoch`` epochs are backed up (0: as soon as it trains)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    start = time.time()
    while time.time() - start < timeout and proc.poll() is None:
        if epoch == 0 and os.path.isdir(os.path.join(run_dir, "logs")) or epoch and _saved_epoch(run_dir) >= epoch:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be killed:\n" + proc.stdout.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return _saved_epoch(run_dir)


@pytest.mark.parametrize("method, artifact", [("classifier", "classifier.keras"), ("cgan", "generator.keras")])
def test_training_killed_three_times_resumes_each_time(dataset, tmp_path, method, artifact):
    run_dir = tmp_path / "run"
    command = _train_command(dataset, run_dir, epochs=6, method=method, export_dir=tmp_path / "exports")
    for target in (0, 2, 4):
        saved = _kill_after(command, run_dir, target)
        assert saved >= target
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert finished.returncode == 0, finished.stderr[-2000:]
    epochs_run = [int(e) for e in re.findall(r"Epoch (\d+)/6", finished.stdout + finished.stderr)]
    # It continued from the last backed-up epoch (losing at most the one in progress).
    assert epochs_run and epochs_run[0] == saved + 1 and epochs_run[-1] == 6
    assert os.path.isfile(run_dir / artifact)


def test_run_folder_of_another_method_is_refused(dataset, tmp_path):
    train.train("classifier", dataset, str(tmp_path), preset="tiny", progress=False)
    config = json.loads((tmp_path / "config.json").read_text())
    config["config"]["method"] = "cgan"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ParameterError, match="holds a cgan run"):
        train.train("classifier", dataset, str(tmp_path), preset="tiny", progress=False)


def test_resume_refuses_changed_settings(tiny_classifier, dataset):
    """A resumed run keeps its configuration: a changed setting is refused, not silently dropped."""
    run_dir = os.path.dirname(tiny_classifier)
    before = (json.loads(open(os.path.join(run_dir, "config.json")).read()), os.path.getmtime(tiny_classifier))
    with pytest.raises(ParameterError, match=r"resumes a run started with learning_rate=0\.001.*--epochs"):
        train.train("classifier", dataset, run_dir, preset="tiny", progress=False, learning_rate=0.5)
    with pytest.raises(ParameterError, match="dense_units=16"):
        train.train("classifier", dataset, run_dir, preset="tiny", progress=False, dense_units=99)
    # Nothing of the run was touched by the refused calls.
    assert (json.loads(open(os.path.join(run_dir, "config.json")).read()), os.path.getmtime(tiny_classifier)) == before


def test_unknown_strategy_and_missing_tf_config(dataset, tmp_path, monkeypatch):
    with pytest.raises(ParameterError, match="unknown strategy"):
        train.train("classifier", dataset, str(tmp_path), preset="tiny", strategy="horovod")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ParameterError, match="TF_CONFIG"):
        train.train("classifier", dataset, str(tmp_path), preset="tiny", strategy="multi-worker")


def test_mirrored_strategy_trains(dataset, tmp_path):
    result = train.train("classifier", dataset, str(tmp_path), preset="tiny", progress=False, strategy="mirrored")
    assert len(result["history"]["loss"]) == 1 and os.path.isfile(tmp_path / "classifier.keras")


def test_a_setting_newer_than_the_run_resumes_at_its_preset_value(dataset, tmp_path):
    """A run started before a setting existed resumes with it at its preset value, and only that value."""
    run_dir = str(tmp_path / "run")
    train.train("cgan", dataset, run_dir, preset="tiny", source="flute", target="keyboard", progress=False,
                export_dir=str(tmp_path / "exported"))
    config = json.loads(open(os.path.join(run_dir, "config.json")).read())
    del config["config"]["lambda_energy"]  # as written before the setting existed
    open(os.path.join(run_dir, "config.json"), "w").write(json.dumps(config))
    with pytest.raises(ParameterError, match=r"started with lambda_energy=0\.0.*not lambda_energy=6"):
        train.train("cgan", dataset, run_dir, preset="tiny", progress=False, lambda_energy=6.0, epochs=2)
    again = train.train("cgan", dataset, run_dir, preset="tiny", progress=False, lambda_energy=0.0, epochs=2,
                        export_dir=str(tmp_path / "exported"))
    assert len(again["history"]["g_loss"]) == 1  # epoch 2 ran, resumed
