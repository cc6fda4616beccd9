"""--executor local|ray and the Ray options of the benchmark scripts (no Ray is started here)."""

from __future__ import annotations

import json
import socket
import sys
import time

import pytest

from benchmarks import patching_heatmaps as ph
from benchmarks.common import ExecutorOptions, parse_settings, run_cli
from tasks.errors import CapabilityError, ConfigError

QUICK = ["--quick", "--no-progress", "--device", "cpu"]


def _parse(argv):
    return parse_settings(argv, ph.PatchingHeatmapsSettings, script="patching_heatmaps", scaleout=True)


def test_flags_and_config_file_become_run_options(tmp_path):
    run, settings = _parse(["--executor", "ray", "--ray-address", "10.0.0.5:6379", "--actors", "4",
                            "--threads-per-actor", "2", "--gpus-per-actor", "0.5"])  # fmt: skip
    assert run.scaleout == ExecutorOptions("ray", "10.0.0.5:6379", 4, 2, 0.5)
    assert settings == ph.PatchingHeatmapsSettings()  # where units run changes no setting (nor the digest)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"executor": "ray", "actors": 3, "pairs": 4}))
    run, settings = _parse(["--config", str(config), "--actors", "2"])
    assert run.scaleout.executor == "ray" and run.scaleout.actors == 2 and settings.pairs == 4
    assert _parse([])[0].scaleout == ExecutorOptions()
    assert _parse(["--executor", "ray", "--wait-timeout-s", "90"])[0].scaleout.wait_timeout_s == 90.0


@pytest.mark.parametrize(("argv", "message"), [
    (["--ray-address", "h:6379"], "--ray-address applies to --executor ray"),
    (["--executor", "ray", "--actors", "0"], r"actors \(0\) must be a whole number >= 1"),
    (["--executor", "ray", "--gpus-per-actor", "-1"], "gpus_per_actor"),
    (["--executor", "ray", "--wait-timeout-s", "0"], r"wait_timeout_s \(0.0\) must be a number of seconds > 0"),
    (["--wait-timeout-s", "60"], "--wait-timeout-s applies to --executor ray"),
])  # fmt: skip
def test_bad_scaleout_options_are_refused(argv, message):
    with pytest.raises(ConfigError, match=message):
        _parse(argv)


def test_scripts_that_do_not_sweep_have_no_executor_flag(capsys):
    with pytest.raises(SystemExit):
        parse_settings(["--executor", "ray"], ph.PatchingHeatmapsSettings, script="x")
    assert "unrecognized arguments: --executor" in capsys.readouterr().err


def test_heatmaps_without_ray_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(CapabilityError, match=r'pip install "speechlens\[ray\]"'):
        ph.main(QUICK + ["--out", str(tmp_path / "a"), "--executor", "ray"])
    monkeypatch.setattr(sys, "argv", ["patching_heatmaps.py", *QUICK, "--out", str(tmp_path / "b"), "--executor", "ray"])
    with pytest.raises(SystemExit) as info:
        run_cli(ph.main, "patching_heatmaps")
    assert info.value.code == 2 and 'speechlens[ray]' in capsys.readouterr().err


def test_heatmaps_with_an_unreachable_cluster_fail_in_seconds(tmp_path):
    pytest.importorskip("ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*cannot be reached"):
        ph.main(QUICK + ["--out", str(tmp_path), "--executor", "ray", "--ray-address", f"127.0.0.1:{port}"])
    assert time.monotonic() - t0 < 10
