"""Class 4 of issue 12: saved maps, pairs and sweep checkpoints load whole or not at all.

Before: the map's checksum covered only the .npz, so edited coordinates, metrics or spans in
the JSON loaded silently (an edited checkpoint moved a sweep's mean clean metric from 6.64 to
64.08); a pair.json without checksums accepted an edited WAV; truncated or invalid files
raised BadZipFile, JSONDecodeError, KeyError, TypeError or LibsndfileError. Files of the
older formats (``tests/intervene/data/map_v0_*``) must still load.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import intervene
import tasks
from corruptions.pair import MinimalPair
from intervene.workstore import WorkStore
from tasks.errors import ModelLoadError, PairError

DATA = Path(__file__).parent.parent / "intervene" / "data"


@pytest.fixture(scope="module")
def saved_map(tiny_whisper, yes_no_pair, tmp_path_factory):
    _, pair = yes_no_pair
    cmap = intervene.patch(tiny_whisper, tasks.KeywordTask(["yes", "no"]), pair, "encoder.block_output",
                           window_ms=200.0, guards=False)
    return cmap, cmap.save(tmp_path_factory.mktemp("map") / "map.npz")


def _copy(src_npz: Path, tmp_path: Path) -> Path:
    shutil.copy(src_npz, tmp_path / "m.npz")
    shutil.copy(src_npz.with_suffix(".json"), tmp_path / "m.json")
    return tmp_path / "m.npz"


def _edit_json(npz: Path, edit) -> None:
    js = npz.with_suffix(".json")
    doc = json.loads(js.read_text())
    edit(doc)
    js.write_text(json.dumps(doc, indent=2))


def test_map_round_trip(saved_map):
    cmap, path = saved_map
    back = intervene.CausalMap.load(path)
    np.testing.assert_array_equal(back.values, cmap.values)
    assert back.coords == cmap.coords and back.meta.to_dict() == intervene.CausalMap.load(path).meta.to_dict()
    assert json.loads(path.with_suffix(".json").read_text())["format"] == "speechlens.causal_map/2"


EDITS = {
    "frame coordinate": lambda d: d["coords"]["frame"].__setitem__(0, d["coords"]["frame"][0] + 1),
    "clean metric": lambda d: d.__setitem__("clean_metric", d["clean_metric"] * 10),
    "span": lambda d: d["meta"].__setitem__("span_s", [0.0, 0.5]),
    "word span": lambda d: d["meta"]["words"][0].__setitem__(1, 0.31),
    "model name": lambda d: d["meta"].__setitem__("model", "whisper-base"),
    "guard record": lambda d: d["meta"].__setitem__("guards", [{"guard": "patch nothing", "ok": True}]),
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_any_edit_of_the_sidecar_is_refused(saved_map, tmp_path, edit):
    npz = _copy(saved_map[1], tmp_path)
    _edit_json(npz, EDITS[edit])
    with pytest.raises(ModelLoadError, match=r"m\.json.*changed after it was written"):
        intervene.CausalMap.load(npz)


@pytest.mark.parametrize("name", ["map_v0_attribution", "map_v0_sweep"])
def test_files_of_the_old_format_still_load(name):
    cmap = intervene.CausalMap.load(DATA / f"{name}.npz")
    assert cmap.values.ndim == 2 and np.isfinite(cmap.clean_metric)


OLD_EDITS = dict(EDITS, **{"span outside the clip": lambda d: d["meta"].__setitem__("span_s", [0.0, 9.0])})


@pytest.mark.parametrize("name, edit", [(name, edit) for name in ("map_v0_attribution", "map_v0_sweep")
                                        for edit in ("clean metric", "frame coordinate", "span outside the clip")]
                         + [("map_v0_attribution", "span")])
def test_old_format_refuses_edits_it_can_tell(name, edit, tmp_path):
    npz = _copy(DATA / f"{name}.npz", tmp_path)
    _edit_json(npz, OLD_EDITS[edit])
    with pytest.raises(ModelLoadError, match=r"m\.json' field"):
        intervene.CausalMap.load(npz)


def test_old_format_cannot_tell_consistent_provenance_edits(tmp_path):
    """Documented limit of format 1 (intervene/mapfile.py): provenance text has no checksum."""
    npz = _copy(DATA / "map_v0_attribution.npz", tmp_path)
    _edit_json(npz, EDITS["model name"])
    assert intervene.CausalMap.load(npz).meta.model == "whisper-base"


BROKEN_JSON = {
    "not json": lambda js: js.write_text("{not json"),
    "truncated": lambda js: js.write_text(js.read_text()[:200]),
    "a list": lambda js: js.write_text("[1, 2]"),
    "binary": lambda js: js.write_bytes(b"\xff\xfe\x00garbage"),
}


@pytest.mark.parametrize("damage", BROKEN_JSON, ids=list(BROKEN_JSON))
def test_damaged_json_is_a_typed_error(saved_map, tmp_path, damage):
    npz = _copy(saved_map[1], tmp_path)
    BROKEN_JSON[damage](npz.with_suffix(".json"))
    with pytest.raises(ModelLoadError, match=r"m\.json"):
        intervene.CausalMap.load(npz)


def test_damaged_npz_is_a_typed_error(saved_map, tmp_path):
    npz = _copy(saved_map[1], tmp_path)
    npz.write_bytes(npz.read_bytes()[:100])
    with pytest.raises(ModelLoadError, match=r"m\.npz"):
        intervene.CausalMap.load(npz)


WRONG_FIELDS = {
    "dims a string": (lambda d: d.__setitem__("dims", "layer"), "dims"),
    "unknown dim": (lambda d: d.__setitem__("dims", ["layer", "time"]), "dims"),
    "coords missing": (lambda d: d.pop("coords"), "coords"),
    "coords too short": (lambda d: d["coords"]["frame"].pop(), "coords.frame"),
    "layer a string": (lambda d: d["coords"]["layer"].__setitem__(0, "0"), "coords.layer"),
    "metric a string": (lambda d: d.__setitem__("clean_metric", "7.6"), "clean_metric"),
    "metric null": (lambda d: d.__setitem__("corrupt_metric", None), "corrupt_metric"),
    "frame_s zero": (lambda d: d["meta"].__setitem__("frame_s", 0), "meta.frame_s"),
    "direction": (lambda d: d["meta"].__setitem__("direction", "sideways"), "meta.direction"),
    "arrays not a dict": (lambda d: d.__setitem__("arrays", []), "arrays"),
    "array names": (lambda d: d["arrays"].__setitem__("names", ["values", "nonsense"]), "arrays.names"),
}


@pytest.mark.parametrize("case", WRONG_FIELDS, ids=list(WRONG_FIELDS))
def test_wrongly_typed_or_shaped_fields_name_the_field(case, tmp_path):
    """On an old-format file (no JSON checksum), so the field checks themselves are exercised."""
    edit, field = WRONG_FIELDS[case]
    npz = _copy(DATA / "map_v0_attribution.npz", tmp_path)
    _edit_json(npz, edit)
    with pytest.raises(ModelLoadError, match=rf"m\.json.*{field}"):
        intervene.CausalMap.load(npz)


def test_sweep_checkpoint_with_an_edited_map_is_recomputed_not_loaded(saved_map, tmp_path):
    cmap, _ = saved_map
    store = WorkStore(tmp_path / "work", {"format": "test"})
    record = store.put_map("pair0000-x", cmap, {"status": "used"})
    _edit_json(store.root.parent / record["map"], EDITS["clean metric"])
    assert store.load_map(record) is None


# ----------------------------------------------------------------------------- pairs
@pytest.fixture
def saved_pair(yes_no_pair, tmp_path):
    _, pair = yes_no_pair
    return pair, pair.save(tmp_path / "pair")


def _edit_pair(folder: Path, edit) -> None:
    doc = json.loads((folder / "pair.json").read_text())
    edit(doc)
    (folder / "pair.json").write_text(json.dumps(doc))


def test_pair_round_trip(saved_pair):
    pair, folder = saved_pair
    back = MinimalPair.load(folder)
    np.testing.assert_array_equal(back.corrupt, pair.corrupt)
    assert back.words == pair.words


PAIR_EDITS = {
    "answer": lambda d: d.__setitem__("corrupt_answer", "yes"),
    "changed span": lambda d: d["changed_spans"][0].__setitem__(0, 0.1),
    "param": lambda d: d["params"].__setitem__("voice", "en"),
}


@pytest.mark.parametrize("edit", PAIR_EDITS, ids=list(PAIR_EDITS))
def test_edited_pair_json_is_refused(saved_pair, edit):
    _, folder = saved_pair
    _edit_pair(folder, PAIR_EDITS[edit])
    with pytest.raises(PairError, match="pair.json.*changed after it was written"):
        MinimalPair.load(folder)


def _as_old_format(doc: dict) -> None:
    doc["format"] = "speechlens.minimal_pair/1"
    doc.pop("checksum")


def test_old_pair_format_loads_and_still_checks_audio(saved_pair):
    pair, folder = saved_pair
    _edit_pair(folder, _as_old_format)
    assert MinimalPair.load(folder).clean_answer == pair.clean_answer
    tasks.write_wav(folder / "corrupt.wav", pair.clean)
    with pytest.raises(PairError, match="checksum"):
        MinimalPair.load(folder)


def test_pair_json_without_checksums_is_refused(saved_pair):
    _, folder = saved_pair
    _edit_pair(folder, lambda d: (_as_old_format(d), d.pop("clean_sha256"), d.pop("corrupt_sha256")))
    with pytest.raises(PairError, match="lacks the field 'clean_sha256'"):
        MinimalPair.load(folder)


OLD_PAIR_FIELDS = {
    "span outside the clip": (lambda d: d["changed_spans"].append([0.5, 9.0]), r"changed_spans\[1\]"),
    "word span outside": (lambda d: d["words"][0].__setitem__(2, 3.0), r"words\[0\]"),
    "n_samples a string": (lambda d: d.__setitem__("n_samples", "16000"), "n_samples"),
    "sample_rate missing": (lambda d: d.pop("sample_rate"), "sample_rate"),
    "answer a number": (lambda d: d.__setitem__("clean_answer", 5), "clean_answer"),
    "seed negative": (lambda d: d.__setitem__("seed", -1), "seed"),
    "corruption a list": (lambda d: d.__setitem__("corruption", []), "corruption"),
}


@pytest.mark.parametrize("case", OLD_PAIR_FIELDS, ids=list(OLD_PAIR_FIELDS))
def test_old_pair_fields_are_checked(saved_pair, case):
    edit, field = OLD_PAIR_FIELDS[case]
    _, folder = saved_pair
    _edit_pair(folder, lambda d: (_as_old_format(d), edit(d)))
    with pytest.raises(PairError, match=rf"pair\.json.*{field}"):
        MinimalPair.load(folder)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing"])
def test_damaged_wav_is_a_pair_error_naming_the_file(saved_pair, damage):
    _, folder = saved_pair
    wav = folder / "clean.wav"
    if damage == "truncated":
        wav.write_bytes(wav.read_bytes()[:5000])
    elif damage == "garbage":
        wav.write_bytes(b"not a wav file at all")
    else:
        wav.unlink()
    with pytest.raises(PairError, match="clean.wav"):
        MinimalPair.load(folder)


@pytest.mark.parametrize("text", ["{broken", "[]", ""])
def test_damaged_pair_json_is_a_pair_error(saved_pair, text):
    _, folder = saved_pair
    (folder / "pair.json").write_text(text)
    with pytest.raises(PairError, match="pair.json"):
        MinimalPair.load(folder)
