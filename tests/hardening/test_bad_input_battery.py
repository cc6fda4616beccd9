"""The bad-input battery (``benchmarks/bad_inputs.py``): its probe list and its judging.

The whole battery runs as a benchmark (minutes); here only its structure and a cheap slice
that needs no model: at least 200 named probes across the API, saved artifacts and faults,
each judged into exactly one outcome, and the slice coming out with nothing silently wrong or raw.
"""

from __future__ import annotations

import json

from benchmarks import bad_inputs
from benchmarks.badinputs import OUTCOMES, Env, Probe, load_families, run_probe
from tasks.errors import ConfigError


def test_the_battery_has_200_named_probes_in_every_area():
    probes = load_families()
    names = [p.name for p in probes]
    assert len(names) >= 200 and len(set(names)) == len(names)
    assert {p.area for p in probes} >= {"api", "artifact", "fault"}


def test_outcomes_are_judged(tmp_path):
    env = Env(tmp_path)

    def typed(env):
        raise ConfigError("x (1) must be 2")

    def raw(env):
        return {}["missing"]

    judged = {
        "typed": run_probe(Probe("api/t", typed), env),
        "silent": run_probe(Probe("api/s", lambda env: 42), env),
        "raw": run_probe(Probe("api/r", raw), env),
        "accepted": run_probe(Probe("api/a", lambda env: 2, expect="accept", check=lambda r, env: None), env),
    }
    assert {k: v["outcome"] for k, v in judged.items()} == {k: k for k in judged}
    wrong = run_probe(Probe("api/w", lambda env: 3, expect="accept", check=lambda r, env: "not 2"), env)
    assert wrong["outcome"] == "silent" and set(OUTCOMES) == set(judged)


def test_a_slice_runs_clean_and_writes_every_outcome(tmp_path, capsys):
    status = bad_inputs.main(["--only", "Task/", "--out", str(tmp_path), "--no-progress"])
    report = json.loads((tmp_path / "bad_inputs.json").read_text())
    assert status == 0 and report["summary"]["probes"] >= 20
    assert report["summary"]["silent"] == 0 and report["summary"]["raw"] == 0
    assert all(p["outcome"] in OUTCOMES for p in report["probes"])
    assert "silently wrong 0, raw 0" in capsys.readouterr().out
