"""API probes: every argument a user passes, wrong in type, value, finiteness or range.

Each family is a list of ``(label, value)`` cases fed to one call; a few good-but-tricky
inputs check that the right result comes back (``expect="accept"``).
"""

from __future__ import annotations

import math

import numpy as np

from benchmarks.badinputs import probe

NAN, INF = math.nan, math.inf


def _family(prefix: str, call, cases, **options) -> None:
    for label, value in cases:
        probe(f"{prefix}={label}", lambda env, v=value: call(env, v), **options)


def _patch_probes() -> None:
    _family("api/patch/batch_size", lambda env, v: env.patch(batch_size=v),
            [("-1", -1), ("0", 0), ("2.5", 2.5), ("True", True), ("'4'", "4"), ("nan", NAN), ("inf", INF)])
    _family("api/patch/window_ms", lambda env, v: env.patch(window_ms=v),
            [("nan", NAN), ("inf", INF), ("-inf", -INF), ("-20", -20.0), ("0", 0.0), ("30", 30.0), ("'20'", "20"),
             ("True", True), ("[20]", [20])])
    _family("api/patch/margin_ms", lambda env, v: env.patch(margin_ms=v),
            [("nan", NAN), ("inf", INF), ("-1", -1.0), ("'100'", "100"), ("None", None)])
    _family("api/patch/context_frames", lambda env, v: env.patch(context_frames=v),
            [("0", 0), ("-5", -5), ("10 (shorter than the clip)", 10), ("49 (one short)", 49), ("2.5", 2.5),
             ("'50'", "50"), ("True", True), ("1501", 1501), ("nan", NAN)])
    _family("api/patch/attribution/context_frames", lambda env, v: env.patch(method="attribution", context_frames=v),
            [("10 (shorter than the clip)", 10), ("0", 0)])
    _family("api/patch/ig_steps", lambda env, v: env.patch(method="attribution", ig_steps=v),
            [("-1", -1), ("2.5", 2.5), ("'3'", "3"), ("nan", NAN), ("1e6", 10**6), ("True", True)])
    _family("api/patch/estimator", lambda env, v: env.patch(method="attribution", **v),
            [("5", {"estimator": 5}), ("'bogus'", {"estimator": "bogus"}), ("ig without steps", {"estimator": "ig"}),
             ("atp with ig_steps", {"estimator": "atp", "ig_steps": 3})])
    _family("api/patch/method", lambda env, v: env.patch(method=v), [("'bogus'", "bogus"), ("5", 5)])
    _family("api/patch/unit", lambda env, v: env.patch(**v),
            [("'bogus'", {"unit": "bogus"}), ("5", {"unit": 5}), ("token on encoder", {"unit": "token"}),
             ("frame on decoder", {"unit": "frame", "sites": "decoder.0.block_output"})])
    _family("api/patch/span", lambda env, v: env.patch(span=v),
            [("(nan, 1)", (NAN, 1.0)), ("('a', 1)", ("a", 1.0)), ("(0.5, 0.1)", (0.5, 0.1)), ("(-1, 0.5)", (-1.0, 0.5)),
             ("(0, 99)", (0.0, 99.0)), ("'bogus'", "bogus"), ("5", 5), ("(0,)", (0.0,)), ("3 numbers", [0.1, 0.2, 0.3]),
             ("(inf, 1)", (INF, 1.0)), ("None", None)])
    _family("api/patch/tokens", lambda env, v: env.patch(unit="token", sites="decoder.0.block_output", tokens=v),
            [("[1.5]", [1.5]), ("[True]", [True]), ("[-1]", [-1]), ("[999]", [999]), ("'0'", "0"), ("[]", []),
             ("5", 5)])
    _family("api/patch/direction", lambda env, v: env.patch(direction=v), [("'bogus'", "bogus"), ("None", None), ("5", 5)])
    _family("api/patch/guards", lambda env, v: env.patch(guards=v), [("'no'", "no"), ("None", None), ("1", 1)])
    _family("api/patch/progress", lambda env, v: env.patch(progress=v), [("'yes'", "yes")])
    _family("api/patch/sites", lambda env, v: env.patch(sites=v),
            [("None", None), ("[None]", [None]), ("3", 3), ("''", ""), ("layer 99", "encoder.99.block_output"),
             ("bogus component", "encoder.0.bogus"), ("'bogus'", "bogus"), ("[]", []), ("a dict", {"a": 1}),
             ("bytes", b"encoder.0.block_output"), ("head on a layer site", "encoder.0.block_output.1")])
    _family("api/patch/task", lambda env, v: env.patch(task=v),
            [("None", None), ("'keyword'", "keyword"), ("5", 5), ("a word list", ["yes", "no"])])
    _family("api/patch/model", lambda env, v: env.patch(model=v),
            [("None", None), ("a name", "whisper-tiny.en"), ("5", 5)])
    _family("api/patch/pair", lambda env, v: env.patch(pair=env.utterance if v == "utt" else v),
            [("None", None), ("'pair'", "pair"), ("5", 5), ("an utterance", "utt")])
    _family("api/patch/intervention", lambda env, v: env.patch(**v),
            [("'bogus'", {"intervention": "bogus"}), ("5", {"intervention": 5}),
             ("zero with exact", {"intervention": "zero", "method": "exact"})])


def _patch_accepts() -> None:
    def finite(cmap, env):
        return None if np.isfinite(cmap.values).all() else "the map holds non-finite values"

    def same_as_batch_1(cmap, env):
        ref = env.shared("patch_b1", lambda: env.patch(window_ms=100.0))
        return None if np.allclose(cmap.values, ref.values, atol=1e-4) else "batch_size=2.0 changed the numbers"

    def inside_change(cmap, env):
        lo, hi = cmap.meta.span_s
        c_lo, c_hi = env.pair.changed_spans[0]
        return None if lo >= c_lo - 1e-9 and hi <= env.pair.changed_spans[-1][1] + 0.02 else \
            f"margin_ms=0 gave span {lo:.3f}-{hi:.3f} s, not the changed span {c_lo:.3f}-{c_hi:.3f} s"

    probe("api/patch/accept/batch_size=2.0", lambda env: env.patch(batch_size=2.0, window_ms=100.0),
          expect="accept", check=same_as_batch_1, heavy=True)
    probe("api/patch/accept/window_ms=np.float64(100)", lambda env: env.patch(window_ms=np.float64(100.0)),
          expect="accept", check=finite, heavy=True)
    probe("api/patch/accept/context_frames=50 (the clip)", lambda env: env.patch(context_frames=50, window_ms=200.0),
          expect="accept", check=finite, heavy=True)
    probe("api/patch/accept/margin_ms=0", lambda env: env.patch(margin_ms=0, window_ms=100.0),
          expect="accept", check=inside_change, heavy=True)


def _sweep_probes() -> None:
    import intervene

    def sweep(env, kwargs):
        args = dict(model=env.model, task=env.task, pairs=[env.pair], sites="encoder.0.block_output") | kwargs
        return intervene.sweep(**args)

    _family("api/sweep", sweep,
            [("batch_size=-1", {"batch_size": -1}), ("typo windw_ms", {"windw_ms": 40}), ("min_gap=nan", {"min_gap": NAN}),
             ("min_gap='1'", {"min_gap": "1"}), ("min_gap=inf", {"min_gap": INF}), ("align='bogus'", {"align": "bogus"}),
             ("pairs=None", {"pairs": None}), ("pairs='x'", {"pairs": "x"}), ("pairs=[]", {"pairs": []}),
             ("two spans for one pair", {"span": [(0.1, 0.5), (0.2, 0.6)]}), ("window_ms=nan", {"window_ms": NAN}),
             ("context_frames=2.5", {"context_frames": 2.5}), ("checkpoint_dir=5", {"checkpoint_dir": 5}),
             ("store='x'", {"store": "x"})])

    def sweep_pairs(env, kwargs):
        return list(intervene.sweep_pairs(env.model, env.task, [env.pair], "encoder.0.block_output", **kwargs))

    _family("api/sweep_pairs", sweep_pairs, [("two keys for one pair", {"keys": ["a", "b"]}),
                                             ("no map paths for one pair", {"map_paths": []})])


def _intervention_probes() -> None:
    import intervene

    _family("api/Intervention", lambda env, v: intervene.Intervention(**({"site": "encoder.0.block_output"} | v)),
            [("positions=[2.5]", {"positions": [2.5]}), ("positions=[True]", {"positions": [True]}),
             ("positions=[-1]", {"positions": [-1]}), ("positions=[]", {"positions": []}), ("positions='0'", {"positions": "0"}),
             ("positions=5", {"positions": 5}), ("times_s=(nan, 1)", {"times_s": (NAN, 1.0)}),
             ("times_s=(1, 0.5)", {"times_s": (1.0, 0.5)}), ("times_s='x'", {"times_s": "x"}), ("times_s=(0,)", {"times_s": (0.0,)}),
             ("times_s=(-1, 0.5)", {"times_s": (-1.0, 0.5)}), ("site=5", {"site": 5}), ("site=None", {"site": None}),
             ("positions and times_s", {"positions": [1], "times_s": (0.1, 0.2)})])

    def run(env, iv):
        return intervene.intervene(env.model, env.task, env.pair, iv)

    _family("api/intervene", run,
            [("None", None), ("[]", []), ("[None]", [None]), ("a site key", "encoder.0.block_output"),
             ("positions past the encoder", intervene.Intervention("encoder.0.block_output", positions=[5000])),
             ("times past the encoder", intervene.Intervention("encoder.0.block_output", times_s=(0.0, 40.0))),
             ("kind='bogus'", intervene.Intervention("encoder.0.block_output", kind="bogus")),
             ("times_s on a decoder site", intervene.Intervention("decoder.0.block_output", times_s=(0.0, 0.5)))])


def _task_probes() -> None:
    import tasks
    from corruptions.pair import MinimalPair

    for cls in (tasks.KeywordTask, tasks.CarrierTask):
        _family(f"api/{cls.__name__}/words", lambda env, v, cls=cls: cls(v),
                [("'yes'", "yes"), ("b'yes'", b"yes"), ("['yes', None]", ["yes", None]), ("['yes', 3]", ["yes", 3]),
                 ("['yes']", ["yes"]), ("duplicate", ["yes", "Yes"]), ("empty word", ["yes", " "]), ("None", None),
                 ("5", 5), ("a dict", {"yes": 1, "no": 2})])
    _family("api/CarrierTask/template", lambda env, v: tasks.CarrierTask(["yes", "no"], template=v),
            [("None", None), ("5", 5), ("no placeholder", "say it"), ("placeholder first", "{word} now"),
             ("two placeholders", "say {word} {word}")])
    silent = np.zeros(16000, np.float32)
    probe("api/KeywordTask/answers/pair without an answer",
          lambda env: env.task.answers(MinimalPair(silent, silent.copy(), clean_answer=None)))
    probe("api/KeywordTask/accept/case and spaces", lambda env: tasks.KeywordTask([" Yes", "NO "]).words,
          expect="accept", check=lambda words, env: None if words == ("yes", "no") else f"words became {words}")


def _audio_probes() -> None:
    import tasks
    from tasks.audio import prepare_audio

    ok = np.zeros(1600, np.float32)
    _family("api/prepare_audio/audio", lambda env, v: prepare_audio(v, 16000),
            [("bool dtype", np.ones(10, bool)), ("complex", np.ones(10, complex)), ("strings", np.array(["a", "b"])),
             ("objects", np.array([1, None], dtype=object)), ("empty", np.zeros(0, np.float32)),
             ("nan sample", np.array([0.0, NAN], np.float32)), ("inf sample", np.array([0.0, INF])),
             ("3-D", np.zeros((2, 2, 2))), ("20 channels", np.zeros((16000, 20))), ("None", None)])
    _family("api/prepare_audio/sample_rate", lambda env, v: prepare_audio(ok, v),
            [("0", 0), ("-16000", -16000), ("1.5", 1.5), ("nan", NAN), ("'16000'", "16000"), ("None", None),
             ("True", True)])
    probe("api/model.prepare/31 s", lambda env: env.model.prepare(np.zeros(31 * 16000, np.float32)))

    def centred(out, env):
        return None if abs(float(out.mean())) < 1e-6 else f"uint8 silence has a DC level of {float(out.mean()):.3f}"

    probe("api/prepare_audio/accept/uint8 silence", lambda env: prepare_audio(np.full(800, 128, np.uint8), 16000),
          expect="accept", check=centred)
    probe("api/prepare_audio/accept/int16", lambda env: prepare_audio(np.array([-32768, 16384], np.int16), 16000,
                                                                      target_rate=16000),
          expect="accept", check=lambda out, env: None if np.allclose(out, [-1.0, 0.5]) else f"int16 became {out}")
    _family("api/speak/text", lambda env, v: tasks.speak(v),
            [("''", ""), ("' '", "  "), ("None", None), ("5", 5), ("NUL", "yes\x00no"), ("surrogate", "\ud800"),
             ("zero-width space", "yes\u200bno"), ("bell", "a\x07b"), ("private use", "\ue000"), ("'...'", "...")])
    _family("api/speak/settings", lambda env, v: tasks.speak("yes", **v),
            [("voice='bogus'", {"voice": "bogus"}), ("voice=5", {"voice": 5}), ("voice variant bogus", {"voice": "en+zz"}),
             ("rate=10", {"rate": 10}), ("rate=2.5", {"rate": 2.5}), ("rate=nan", {"rate": NAN}), ("rate=True", {"rate": True}),
             ("pitch=100", {"pitch": 100}), ("pitch=-1", {"pitch": -1}), ("pitch='50'", {"pitch": "50"})])
    probe("api/speak/accept/newline between words", lambda env: [w.word for w in tasks.speak("yes\nno").words],
          expect="accept", check=lambda words, env: None if words == ["yes", "no"] else f"words {words}")

    def utt(env):
        return tasks.Utterance(np.zeros(1600, np.float32), words=[("yes", 0.01, 0.09)])

    _family("api/Utterance.padded", lambda env, v: utt(env).padded(*v),
            [("nan", (NAN,)), ("inf", (INF,)), ("-1", (-1.0,)), ("0", (0.0,)), ("'1'", ("1",)), ("1e9", (1e9,)),
             ("onset nan", (1.0, NAN)), ("onset -0.1", (1.0, -0.1)), ("speech does not fit", (0.05, 0.0))])
    probe("api/Utterance.padded/accept/1 s", lambda env: utt(env).padded(1.0, 0.3), expect="accept",
          check=lambda u, env: None if u.audio.shape == (16000,) and abs(u.words[0].start_s - 0.3) < 1e-6
          else f"padded gave {u.audio.shape}, onset {u.words[0].start_s}")
    _family("api/Utterance", lambda env, v: tasks.Utterance(*v),
            [("2-D audio", (np.zeros((2, 100)),)), ("word span nan", (ok, 16000, "", [("yes", NAN, 0.05)])),
             ("word None", (ok, 16000, "", [(None, 0.0, 0.05)])), ("span past the clip", (ok, 16000, "", [("yes", 0.0, 5.0)])),
             ("sample_rate 0", (ok, 0)), ("sample_rate 1.5", (ok, 1.5)), ("sample_rate '16000'", (ok, "16000")),
             ("word span reversed", (ok, 16000, "", [("yes", 0.05, 0.01)]))])


def _model_probes() -> None:
    import intervene

    _family("api/load_model/name", lambda env, v: intervene.load_model(v, device="cpu"),
            [("None", None), ("5", 5), ("'bogus-model'", "bogus-model"), ("'whisper-tinny.en'", "whisper-tinny.en")])
    _family("api/load_model/device", lambda env, v: intervene.load_model("whisper-tiny.en", device=v),
            [("'cuda' without a GPU", "cuda"), ("'cuda:0'", "cuda:0"), ("'gpu'", "gpu"), ("3", 3), ("'mps'", "mps"),
             ("['cpu']", ["cpu"])])


def _corruption_probes() -> None:
    import corruptions
    from corruptions.pair import MinimalPair

    _family("api/corruptions.get", lambda env, v: corruptions.get(*v[0], **v[1]),
            [("'bogus'", (("bogus",), {})), ("noise snr_db=nan", (("noise",), {"snr_db": NAN})),
             ("noise snr_db='10'", (("noise",), {"snr_db": "10"})), ("noise snr_db=(10, 0)", (("noise",), {"snr_db": (10, 0)})),
             ("gap unknown parameter", (("gap",), {"bogus": 1})), ("word_swap word=5", (("word_swap",), {"word": 5}))])
    _family("api/Corruption.pair/seed", lambda env, v: corruptions.get("noise", snr_db=10.0).pair(env.utterance, **v),
            [("-1", {"seed": -1}), ("2.5", {"seed": 2.5}), ("'0'", {"seed": "0"}), ("True", {"seed": True}),
             ("seed and rng", {"seed": 0, "rng": np.random.default_rng(0)}), ("rng=5", {"rng": 5})])
    a = np.zeros(1600, np.float32)
    _family("api/MinimalPair", lambda env, v: MinimalPair(**({"clean": a, "corrupt": a.copy()} | v)),
            [("float64 audio", {"clean": np.zeros(1600)}), ("2-D audio", {"clean": np.zeros((1600, 1), np.float32)}),
             ("lengths differ", {"corrupt": np.zeros(800, np.float32)}),
             ("nan sample", {"corrupt": np.full(1600, NAN, np.float32)}), ("sample_rate 0", {"sample_rate": 0}),
             ("changed span nan", {"changed_spans": [(NAN, 0.05)]}), ("changed span past the clip", {"changed_spans": [(0.0, 9.0)]}),
             ("word label None", {"words": [(None, 0.0, 0.05)]}), ("answer 5", {"clean_answer": 5}),
             ("seed -1", {"seed": -1}), ("corruption a list", {"corruption": []}), ("changed_spans 'x'", {"changed_spans": "x"})])
    _family("api/MinimalPair.changed_frames", lambda env, v: env.pair.changed_frames(**v),
            [("threshold nan", {"threshold_db": NAN}), ("threshold -1", {"threshold_db": -1.0}), ("frame_s 0", {"frame_s": 0.0}),
             ("frame_s nan", {"frame_s": NAN})])


def _map_api_probes() -> None:
    import intervene

    def loaded(env):
        return intervene.CausalMap.load(env.saved_map)

    _family("api/CausalMap.sel", lambda env, v: loaded(env).sel(**v),
            [("layer=99", {"layer": 99}), ("bogus dim", {"bogus": 1})])
    _family("api/combine_maps", lambda env, v: intervene.combine_maps(v(env)),
            [("[]", lambda env: []), ("different dims", lambda env: [loaded(env), env.shared(
                "token_map", lambda: env.patch(unit="token", sites="decoder.0.block_output"))]),
             ("a map, not a list", lambda env: loaded(env)), ("[None]", lambda env: [None])])
    probe("api/combine_maps/align='bogus'", lambda env: intervene.combine_maps([loaded(env)], align="bogus"))


def register() -> None:
    _patch_probes()
    _patch_accepts()
    _sweep_probes()
    _intervention_probes()
    _task_probes()
    _audio_probes()
    _model_probes()
    _corruption_probes()
    _map_api_probes()
