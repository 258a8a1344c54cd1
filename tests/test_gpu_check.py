"""The GPU check runs its measurements wherever it is asked to, and says so where there is no GPU."""

import re

import torch

from benchmarks import gpu


def test_without_cuda_it_says_so_and_exits_0(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu.main([]) == 0
    assert "no CUDA device" in capsys.readouterr().out


def test_on_the_cpu_it_measures_the_pipeline_and_the_encoder(capsys):
    assert gpu.main(["--variant", "tiny", "--device", "cpu", "--frames", "3", "--objects", "3", "--size", "192",
                     "--batch", "1"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"float32: pipeline ([\d.]+) frames/s; encoder ([\d.]+) images/s, ([\d.]+) TFLOP/s", out)
    assert m and float(m.group(1)) > 0 and float(m.group(2)) > 0


def test_a_peak_is_known_by_the_devices_name():
    assert gpu._peak("NVIDIA H100 80GB HBM3") == (989.0, 67.0)
    assert gpu._peak("Some Future Card") is None
