"""Fault probes: processes killed with SIGKILL, full disks, impossible output folders, damaged caches,
truncated audio files, exceptions in the middle of an intervention.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from benchmarks.badinputs import probe


@contextmanager
def _patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


@contextmanager
def _env(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device (simulated)", str(args[0]) if args else "")


def _no_hooks(model) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.model.modules())


def _espeak_kills(env):
    """Synthesise then SIGKILL, twice, with private cache and temp folders: count the library copies left."""
    root = env.scratch()
    (root / "tmp").mkdir()
    child_env = dict(os.environ, SPEECHLENS_CACHE=str(root / "cache"), TMPDIR=str(root / "tmp"))
    code = "import os, tasks; tasks.speak('yes'); os.kill(os.getpid(), 9)"
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", code], env=child_env, capture_output=True, timeout=300)
        if done.returncode != -signal.SIGKILL:
            return f"the child exited with {done.returncode}: {done.stderr.decode()[-300:]}"
    left = list((root / "tmp").rglob("*"))
    cached = [p for p in (root / "cache").rglob("*") if p.is_file()]
    return None if not left and len(cached) == 1 else f"{len(left)} files left in the temp folder, {len(cached)} cached"


def _espeak_cache_probes() -> None:
    import tasks
    from tasks import _espeak

    probe("fault/espeak/kill -9 twice leaves one cached library", lambda env: _espeak_kills(env), expect="accept",
          check=lambda problem, env: problem)

    def damaged_copy(env):
        with _env(SPEECHLENS_CACHE=env.scratch()), _patched(_espeak, "_private_library", None):
            tasks.speak("yes")
            copy = _espeak._private_library
            copy.write_bytes(b"damaged")
            _espeak._private_library = None
            words = [w.word for w in tasks.speak("yes").words]
            return words, copy.stat().st_size

    probe("fault/espeak/damaged cached library is replaced", damaged_copy, expect="accept",
          check=lambda r, env: None if r[0] == ["yes"] and r[1] > 100_000 else f"got {r}")

    def unwritable_cache(env):
        blocker = env.scratch() / "file"
        blocker.write_text("a file where the cache folder would go")
        with _env(SPEECHLENS_CACHE=blocker / "cache"), _patched(_espeak, "_private_library", None):
            return [w.word for w in tasks.speak("yes").words]

    probe("fault/espeak/cache folder cannot be made (falls back to a temporary copy)", unwritable_cache,
          expect="accept", check=lambda words, env: None if words == ["yes"] else f"words {words}")


def _disk_probes() -> None:
    import intervene
    import tasks
    from corruptions import pair as pair_module
    from corruptions.pair import MinimalPair
    from tasks import atomic

    def full_disk_pair(env):
        folder = env.scratch() / "pair"
        with _patched(pair_module, "write_wav", _disk_full):
            try:
                env.pair.save(folder)
            except OSError:
                pass
        return MinimalPair.load(folder)  # must refuse the half-written folder

    probe("fault/disk full while saving a pair, then load", full_disk_pair)

    def full_disk_map(env):
        import intervene.mapfile as mapfile

        folder = env.scratch()
        cmap = intervene.CausalMap.load(env.saved_map)
        with _patched(mapfile, "write_json", _disk_full):
            try:
                cmap.save(folder / "m.npz")
            except OSError:
                pass
        return intervene.CausalMap.load(folder / "m.npz")  # npz written, json not: incomplete

    probe("fault/disk full while saving a map, then load", full_disk_map)

    def partial_files(env):
        npz = env.copy_map(env.saved_map)
        (npz.parent / ".m.npz.abc123.part.npz").write_bytes(b"half")
        (npz.parent / ".m.json.abc123.part.json").write_text("{")
        return intervene.CausalMap.load(npz)

    probe("fault/leftover .part files beside a map", partial_files, expect="accept",
          check=lambda m, env: None if m.values.size else "empty map")

    def under_a_file(env, what):
        blocker = env.scratch() / "file"
        blocker.write_text("x")
        if what == "map":
            return intervene.CausalMap.load(env.saved_map).save(blocker / "m.npz")
        if what == "pair":
            return env.pair.save(blocker / "pair")
        return tasks.write_wav(blocker / "a.wav", np.zeros(10, np.float32))

    for what in ("map", "pair", "wav"):
        probe(f"fault/saving a {what} under a regular file", lambda env, w=what: under_a_file(env, w), io=True)

    def atomic_failure(env):
        path = env.scratch() / "x.json"
        with _patched(atomic.os, "replace", _disk_full):
            try:
                atomic.write_json(path, {"a": 1})
            except OSError:
                pass
        leftovers = list(path.parent.iterdir())
        return None if not leftovers else f"left {[p.name for p in leftovers]}"

    probe("fault/atomic write failing at the rename leaves nothing", atomic_failure, expect="accept",
          check=lambda problem, env: problem)


def _wav_probes() -> None:
    from tasks.audio import AudioWarning, read_wav, write_wav

    def truncated(env, mode=None):
        path = env.scratch() / "clip.wav"
        write_wav(path, (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32))
        path.write_bytes(path.read_bytes()[:30000])
        return read_wav(path) if mode is None else read_wav(path, truncated=mode)

    probe("fault/wav/truncated file is read with a warning naming it", truncated, expect="warn", warns=AudioWarning,
          check=lambda audio, env: None if audio.shape[0] < 16000 else "the truncated clip came back whole?")
    probe("fault/wav/truncated file refused on request", lambda env: truncated(env, "error"))
    probe("fault/wav/truncated with a bad mode", lambda env: truncated(env, "ignore"))
    for label, data in [("empty", b""), ("garbage", b"hello"), ("header only", b"RIFF\x24\x00\x00\x00WAVEfmt "),
                        ("no data chunk", b"RIFF\x04\x00\x00\x00WAVE")]:
        probe(f"fault/wav/{label}", lambda env, d=data: read_wav((lambda p: (p.write_bytes(d), p)[1])(
            env.scratch() / "x.wav")))
    probe("fault/wav/missing file", lambda env: read_wav(env.scratch() / "missing.wav"))
    probe("fault/wav/a folder", lambda env: read_wav(env.scratch()))


def _hook_probes() -> None:
    import intervene

    def with_user_hook(env, run):
        layer = env.model.core.encoder.layers[0]
        calls = []
        handle = layer.register_forward_hook(lambda m, i, o: calls.append(1))
        try:
            run(env)
            kept = len(layer._forward_hooks) == 1
            before = len(calls)
            env.model.logits(env.model.inputs(env.utterance.audio))
            return kept and len(calls) == before + 1
        finally:
            handle.remove()

    ok = {"expect": "accept", "check": lambda kept, env: None if kept else "the user's forward hook was removed"}
    probe("fault/hooks/user hook survives method='pyvene'",
          lambda env: with_user_hook(env, lambda e: e.patch(method="pyvene", window_ms=200.0)), heavy=True, **ok)
    probe("fault/hooks/user hook survives intervene.intervene",
          lambda env: with_user_hook(env, lambda e: intervene.intervene(
              e.model, e.task, e.pair, intervene.Intervention("encoder.0.block_output", times_s=(0.25, 0.7)))), **ok)

    def raising_kind(env):
        def boom(base, source):
            raise ZeroDivisionError("user code failed")
        try:
            intervene.intervene(env.model, env.task, env.pair,
                                intervene.Intervention("encoder.0.block_output", positions=[1, 2], kind=boom))
        except ZeroDivisionError:
            return _no_hooks(env.model)
        return "the user's exception did not come through"

    probe("fault/hooks/user intervention raising leaves no hooks", raising_kind, expect="accept",
          check=lambda r, env: None if r is True else (r or "hooks were left on the model"))

    def same_halves(env):
        from corruptions.pair import MinimalPair

        u = env.utterance
        same = MinimalPair(u.audio, u.audio.copy(), clean_answer="yes", corrupt_answer="yes", words=u.words)
        try:
            env.patch(pair=same)
        except intervene.PairError:
            return _no_hooks(env.model)
        return "a pair whose halves are identical was patched"

    probe("fault/hooks/refused pair leaves no hooks", same_halves, expect="accept",
          check=lambda r, env: None if r is True else (r or "hooks were left on the model"))


def _model_cache_probes() -> None:
    import intervene
    from intervene.models import cache

    def damaged_entry(env):
        with _env(SPEECHLENS_CACHE=env.scratch()):
            intervene.load_model("whisper-tiny.en", device="cpu")
            weights = next(Path(cache.cache_root()).rglob("model.safetensors"))
            data = bytearray(weights.read_bytes())
            data[len(data) // 2] ^= 0xFF
            weights.write_bytes(bytes(data))
            model = intervene.load_model("whisper-tiny.en", device="cpu")
            return model.transcribe(env.utterance.audio)

    probe("fault/model cache/flipped byte in the converted weights is rebuilt", damaged_entry, expect="accept",
          heavy=True, check=lambda text, env: None if "yes" in text.lower() else f"transcript {text!r}")


def register() -> None:
    _espeak_cache_probes()
    _disk_probes()
    _wav_probes()
    _hook_probes()
    _model_cache_probes()
