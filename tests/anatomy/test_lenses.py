"""Encoder lens and logit lens (intervene.encoder_lens / logit_lens / LensTable).

The real tiny.en checks what only trained weights show (the last layer is the model itself; one
intermediate layer against a plain torch forward hook); the tiny random Whisper checks shapes,
files, pictures and errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import intervene
from tasks.errors import CapabilityError, ConfigError, ModelLoadError


# ------------------------------------------------------------------ real tiny.en
@pytest.fixture(scope="module")
def utt():
    import tasks

    return tasks.speak("turn the lights off", voice="en-us")


@pytest.fixture(scope="module")
def enc_table(tiny_en, utt):
    return intervene.encoder_lens(tiny_en, utt, top_k=3, max_new_tokens=12)


@pytest.fixture(scope="module")
def logit_table(tiny_en, utt):
    return intervene.logit_lens(tiny_en, utt, top_k=3)


def _direct(logits: torch.Tensor, targets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target probs, target ranks, top-1 ids) of ``(tokens, vocab)`` logits, computed plainly."""
    p = torch.softmax(logits.double(), -1)
    t = torch.as_tensor(np.asarray(targets))
    tp = p[torch.arange(len(t)), t]
    ranks = (p > tp[:, None]).sum(-1)
    return tp.numpy(), ranks.numpy(), p.argmax(-1).numpy()


def _ids(model, table) -> torch.Tensor:
    """The teacher-forced decoder row of ``table`` (the prompt, then the table's columns' inputs)."""
    return torch.tensor([list(model.prompt_ids[:-1]) + [int(i) for i in table.token_ids]])


def test_encoder_lens_last_layer_is_the_model_itself(tiny_en, utt, enc_table):
    t = enc_table
    assert t.kind == "encoder" and t.layers == (-1, 0, 1, 2, 3)
    own = intervene.transcribe(tiny_en, utt, reference=utt.text)
    assert t.text == own.text == t.transcripts[-1]
    assert t.reference == utt.text and t.reference_source == "utterance"
    assert t.wer[-1] == pytest.approx(own.wer)
    assert t.wer[-1] < 0.3 < t.wer[0]  # the model hears it; layer 0 read directly does not
    # Teacher-forced: the model's own transcript, then its end token; the last row is the model's softmax.
    assert [int(i) for i in t.targets] == tiny_en.greedy_tokens(utt.audio) + [tiny_en.eot_id]
    logits = tiny_en.logits(tiny_en.inputs(utt.audio, decoder_input_ids=_ids(tiny_en, t)))[0]
    logits = logits[len(tiny_en.prompt_ids) - 1 :]
    probs, ranks, top = _direct(logits, t.targets)
    np.testing.assert_allclose(t.target_probs[-1], probs, atol=2e-4)
    np.testing.assert_array_equal(t.target_ranks[-1], ranks)
    np.testing.assert_array_equal(t.top_ids[-1, :, 0], top)
    assert (t.target_ranks[-1] == 0).all()  # greedy: every target is the model's top token


def test_encoder_lens_intermediate_layer_matches_a_plain_hook(tiny_en, utt, enc_table):
    t, layer = enc_table, 1
    core = tiny_en.core
    store = {}
    handle = core.encoder.layers[layer].register_forward_hook(lambda m, a, out: store.update(h=out[0] if isinstance(out, tuple) else out))
    try:
        with torch.no_grad():
            core.encoder(tiny_en.features(utt.audio))
    finally:
        handle.remove()
    with torch.no_grad():
        states = core.encoder.layer_norm(store["h"])
        logits = tiny_en.decode(states, _ids(tiny_en, t))[0, len(tiny_en.prompt_ids) - 1 :]
    probs, ranks, top = _direct(logits, t.targets)
    r = t.row(layer)
    np.testing.assert_allclose(t.target_probs[r], probs, atol=2e-4)
    np.testing.assert_array_equal(t.target_ranks[r], ranks)
    np.testing.assert_array_equal(t.top_ids[r, :, 0], top)
    assert t.transcripts[r] == tiny_en.tokenizer.decode(tiny_en.greedy_from_encoder(states, 12),
                                                        skip_special_tokens=True).strip()


def test_logit_lens_last_layer_is_the_models_logits(tiny_en, utt, logit_table, enc_table):
    t = logit_table
    assert t.kind == "logit" and t.layers == (-1, 0, 1, 2, 3) and t.answer_position == 0
    assert t.text == enc_table.text
    logits = tiny_en.logits(tiny_en.inputs(utt.audio, decoder_input_ids=_ids(tiny_en, t)))[0]
    logits = logits[len(tiny_en.prompt_ids) - 1 :]
    probs, ranks, top = _direct(logits, t.targets)
    np.testing.assert_allclose(t.target_probs[-1], probs, atol=2e-4)
    np.testing.assert_array_equal(t.target_ranks[-1], ranks)
    np.testing.assert_array_equal(t.top_ids[-1, :, 0], top)
    assert (t.top_probs[-1].sum(-1) <= 1 + 1e-5).all()


def test_logit_lens_intermediate_layer_matches_a_plain_hook(tiny_en, utt, logit_table):
    t, layer = logit_table, 1
    core = tiny_en.core
    store = {}
    handle = core.decoder.layers[layer].register_forward_hook(lambda m, a, out: store.update(h=out[0] if isinstance(out, tuple) else out))
    try:
        with torch.no_grad():
            tiny_en.logits(tiny_en.inputs(utt.audio, decoder_input_ids=_ids(tiny_en, t)))
    finally:
        handle.remove()
    with torch.no_grad():
        logits = tiny_en.lm_head(core.decoder.layer_norm(store["h"]))[0, len(tiny_en.prompt_ids) - 1 :]
    probs, ranks, top = _direct(logits, t.targets)
    r = t.row(layer)
    np.testing.assert_allclose(t.target_probs[r], probs, atol=2e-4)
    np.testing.assert_array_equal(t.target_ranks[r], ranks)
    np.testing.assert_array_equal(t.top_ids[r, :, 0], top)


def test_logit_lens_prefix_and_answer(tiny_en, utt):
    t = intervene.logit_lens(tiny_en, utt, prefix="Turn the", answer="lights", top_k=2)
    assert t.tokens[1:] == (" Turn", " the") and t.answer_position == 2 and t.answer == " lights"
    assert t.answer_ranks[-1] == 0 and t.first_top_layer is not None
    assert t.answer_probs.shape == t.answer_ranks.shape == (5,)
    assert t.top_tokens(t.first_top_layer)[0][0] == " lights"


# ------------------------------------------------------------------ tiny random Whisper
@pytest.fixture(scope="module")
def tiny_tables(tiny_whisper, yes_no_pair):
    import torch as _torch

    threads = _torch.get_num_threads()
    _torch.set_num_threads(1)
    try:
        utt = yes_no_pair[0]
        enc = intervene.encoder_lens(tiny_whisper, utt, reference="yes", prefix="yes or", top_k=4, max_new_tokens=3)
        logit = intervene.logit_lens(tiny_whisper, utt.audio, prefix="yes or", answer="no", top_k=4)
    finally:
        _torch.set_num_threads(threads)
    return enc, logit


def test_table_shapes_and_answer(tiny_whisper, tiny_tables):
    enc, logit = tiny_tables
    n_prefix = len(tiny_whisper.tokenizer(" yes or", add_special_tokens=False)["input_ids"])
    n_tokens = 1 + n_prefix
    for t, n_layers in ((enc, 3 + 1), (logit, 2 + 1)):
        assert t.layers == tuple(range(-1, n_layers - 1))
        assert len(t.tokens) == n_tokens and t.answer_position == n_prefix
        assert t.top_ids.shape == t.top_probs.shape == (n_layers, n_tokens, 4)
        assert t.target_probs.shape == t.target_ranks.shape == (n_layers, n_tokens)
        assert (np.diff(t.top_probs, axis=-1) <= 1e-7).all()
        assert len(t.top1()) == n_layers and len(t.top1()[0]) == n_tokens
    assert logit.answer == " no" and logit.transcripts is None and logit.wer is None
    assert enc.wer.shape == (4,) and len(enc.transcripts) == 4 and enc.reference == "yes"
    # no answer given: the answer is the model's own (last row's) top token
    assert enc.answer_ranks[-1] == 0
    d = logit.to_dict()
    json.dumps(d)
    assert d["answer"]["token"] == " no" and len(d["answer"]["ranks"]) == 3


def test_first_top_layer_is_where_the_answer_stays_top():
    def table(ranks):
        n = len(ranks)
        top = np.where(np.asarray(ranks)[:, None, None] == 0, 7, 8) * np.ones((n, 1, 1), int)
        return intervene.LensTable(
            kind="logit", layers=range(-1, n - 1), tokens=["<|x|>"], token_ids=[1], targets=[7],
            top_ids=top, top_probs=np.full((n, 1, 1), 0.5), target_probs=np.full((n, 1), 0.2),
            target_ranks=np.asarray(ranks)[:, None], vocab={1: "<|x|>", 7: " a", 8: " b"}, answer_position=0,
            text="a")  # fmt: skip

    assert table([3, 0, 2, 0, 0]).first_top_layer == 2
    assert table([0, 0, 0]).first_top_layer == -1
    assert table([0, 0, 1]).first_top_layer is None
    with pytest.raises(ConfigError, match="layer \\(9\\) is not in this table"):
        table([0, 0]).row(9)
    with pytest.raises(ConfigError, match="target_probs has shape"):
        intervene.LensTable(kind="logit", layers=[0], tokens=["a"], token_ids=[1], targets=[1],
                            top_ids=np.ones((1, 1, 1), int), top_probs=np.ones((1, 1, 1)),
                            target_probs=np.ones((2, 1)), target_ranks=np.zeros((1, 1), int), vocab={1: "a"},
                            answer_position=0, text="")


def test_save_load_round_trip_and_picture(tiny_tables, tmp_path):
    for t in tiny_tables:
        path = t.save(tmp_path / t.kind)
        assert path.name == f"{t.kind}.npz" and (tmp_path / f"{t.kind}.json").is_file()
        back = intervene.LensTable.load(tmp_path / f"{t.kind}.json")
        assert back.to_dict() == t.to_dict()
        for name in ("token_ids", "targets", "top_ids", "top_probs", "target_probs", "target_ranks"):
            np.testing.assert_array_equal(getattr(back, name), getattr(t, name))
        assert back.vocab == t.vocab and back.transcripts == t.transcripts
        png = tmp_path / f"{t.kind}.png"
        t.plot(png)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tampered_or_incomplete_files_are_refused(tiny_tables, tmp_path):
    enc = tiny_tables[0]
    enc.save(tmp_path / "t")
    js, npz = tmp_path / "t.json", tmp_path / "t.npz"
    doc = json.loads(js.read_text())
    doc["text"] = doc["text"] + " edited"
    js.write_text(json.dumps(doc))
    with pytest.raises(ModelLoadError, match="changed after it was written"):
        intervene.LensTable.load(js)
    enc.save(tmp_path / "t")
    data = dict(np.load(npz))
    data["target_ranks"] = data["target_ranks"] + 1
    np.savez_compressed(npz, **data)
    with pytest.raises(ModelLoadError, match="does not match"):
        intervene.LensTable.load(npz)
    npz.unlink()
    with pytest.raises(ModelLoadError, match="incomplete"):
        intervene.LensTable.load(js)


def test_no_decoder_is_a_capability_error(tiny_wav2vec2):
    audio = np.zeros(16000, np.float32)
    with pytest.raises(CapabilityError, match="has no decoder"):
        intervene.encoder_lens(tiny_wav2vec2, audio)
    with pytest.raises(CapabilityError, match="has no decoder"):
        intervene.logit_lens(tiny_wav2vec2, audio)


@pytest.mark.parametrize("kwargs,message", [
    ({"top_k": 0}, "top_k \\(0\\) must be an integer between 1 and 100"),
    ({"top_k": 101}, "top_k \\(101\\)"),
    ({"top_k": 2.5}, "top_k \\(2.5\\)"),
    ({"top_k": True}, "top_k \\(True\\)"),
    ({"prefix": ""}, "prefix \\(''\\) is empty"),
    ({"prefix": "   "}, "prefix \\('   '\\) is empty"),
    ({"prefix": 3}, "prefix \\(3\\) must be text"),
    ({"prefix": "yes " * 500}, "prefix is 500 tokens; the decoder takes at most"),
    ({"answer": ""}, "answer \\(''\\) must be a word"),
    ({"answer": -1}, "answer \\(-1\\) must be a token id"),
    ({"answer": 10**6}, "answer \\(1000000\\) must be a token id"),
])
def test_bad_arguments_are_config_errors(tiny_whisper, kwargs, message):
    audio = np.zeros(8000, np.float32)
    for fn in (intervene.encoder_lens, intervene.logit_lens):
        with pytest.raises(ConfigError, match=message):
            fn(tiny_whisper, audio, **kwargs)


def test_encoder_lens_bad_reference_and_length(tiny_whisper):
    audio = np.zeros(8000, np.float32)
    with pytest.raises(ConfigError, match="reference \\(' '\\) is an empty transcript"):
        intervene.encoder_lens(tiny_whisper, audio, reference=" ")
    with pytest.raises(ConfigError, match="max_new_tokens \\(0\\)"):
        intervene.encoder_lens(tiny_whisper, audio, max_new_tokens=0)
    with pytest.raises(ConfigError, match="audio"):
        intervene.logit_lens(tiny_whisper, np.zeros((2, 10), np.float32))


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from tiny_models import save_tiny_whisper, tiny_whisper

    return str(save_tiny_whisper(tiny_whisper(), tmp_path_factory.mktemp("tiny") / "model"))


@pytest.mark.parametrize("kind", ["encoder", "logit"])
def test_cli_lens_writes_a_table_and_a_picture(tiny_folder, tmp_path, capsys, kind):
    from intervene.app.cli import main

    out = tmp_path / kind
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rc = main(["lens", "--model", tiny_folder, "--device", "cpu", "--text", "yes", "--kind", kind,
                   "--prefix", "yes", "--answer", "no", "--top-k", "2", "--max-new-tokens", "3", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["command"] == "lens" and summary["table"]["kind"] == kind
    assert summary["table"]["answer"]["token"] == " no"
    assert json.loads(capsys.readouterr().out)["files"] == ["lens.npz", "lens.json", "lens.png"]
    table = intervene.LensTable.load(out / "lens.npz")
    assert table.kind == kind and table.top_ids.shape[-1] == 2
    assert (out / "lens.png").read_bytes()[:4] == b"\x89PNG"
    if kind == "encoder":
        assert table.reference == "yes" and len(table.transcripts) == len(table.layers)


def test_cli_lens_bad_top_k_exits_2(tiny_folder, tmp_path, capsys):
    from intervene.app.cli import main

    rc = main(["lens", "--model", tiny_folder, "--device", "cpu", "--text", "yes", "--top-k", "0",
               "--out", str(tmp_path / "x")])
    assert rc == 2 and "top_k (0)" in capsys.readouterr().err
