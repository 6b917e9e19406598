"""Multi-worker training on tf.distribute: two worker processes on 127.0.0.1 only."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

WORKER = """
import sys, numpy as np
from soundtransform import train
method, data, run_dir, export_dir, out = sys.argv[1:]
result = train.train(method, data, run_dir, preset="tiny", source="flute", target="keyboard",
                     strategy="multi-worker", progress=False, export_dir=export_dir)
np.savez(out, *[w.numpy() for w in result["model"].weights])
print("exported", sorted(k for k in result if k.startswith("export")))
"""


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
@pytest.mark.parametrize("method", ["cgan", "cyclegan"])
def test_two_workers_hold_identical_weights_and_export_once(dataset, tmp_path, method):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    run_dir, export_dir = tmp_path / "run", tmp_path / "exports"
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT,
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, str(script), method, dataset, str(run_dir), str(export_dir), str(tmp_path / f"w{index}.npz")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=420)[0])
    finally:
        for proc in procs:
            proc.kill()
    for proc, out in zip(procs, outputs):
        assert proc.returncode == 0, out[-3000:]
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert len(w0.files) == len(w1.files) > 0
    for key in w0.files:
        np.testing.assert_allclose(w0[key], w1[key], atol=1e-6, err_msg=key)
    # Only the chief wrote: one run folder with logs, one version of each exported model.
    versions = sorted(os.path.relpath(os.path.join(d, v), export_dir)
                      for d in (str(p) for p in export_dir.iterdir() if p.is_dir())
                      for v in os.listdir(d) if not v.startswith("."))
    expected = 2 if method == "cyclegan" else 1
    assert len(versions) == expected and all(v.endswith("/1") for v in versions), versions
    assert (run_dir / "logs").is_dir()
