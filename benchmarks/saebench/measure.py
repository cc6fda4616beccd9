"""What ``benchmarks/sae.py`` measures of one SAE beyond reconstruction: probes, downstream cost, steering.

- :func:`clip_features`: each clip's mean feature activation over its frames (clips x width).
- :func:`single_feature_probe`: the one feature that best separates a label on the training
  clips (a threshold for two classes, nearest class mean in 1-D for more), scored on held-out clips.
- :func:`downstream`: the site replaced by the SAE's reconstruction on the audio frames (the
  SAE's error term zeroed, ``...sae.error``): keyword forced-choice accuracy and WER, with and
  without.
- :func:`steering_demo`: one feature steered over a word's frames, transcripts before and after.
"""

from __future__ import annotations

import re

import numpy as np
import torch

__all__ = ["clip_features", "downstream", "downstream_base", "single_feature_probe", "steering_demo"]


@torch.no_grad()
def clip_features(sae, x: torch.Tensor, clip: torch.Tensor, n_clips: int) -> np.ndarray:
    """Mean feature activation of each clip: float32 (n_clips, width) (clips without frames: zeros)."""
    out = torch.zeros(n_clips, sae.width)
    count = torch.zeros(n_clips)
    for lo in range(0, x.shape[0], 4096):
        f = sae.encode(x[lo: lo + 4096])
        c = clip[lo: lo + 4096]
        out.index_add_(0, c, f)
        count.index_add_(0, c, torch.ones_like(c, dtype=torch.float32))
    return (out / count.clamp_min(1)[:, None]).numpy()


def single_feature_probe(train_x: np.ndarray, train_y: list, test_x: np.ndarray, test_y: list) -> dict:
    """Best single feature for a label (chosen on train clips); its accuracy on test clips.

    Returns ``{"feature", "train_accuracy", "test_accuracy", "chance", "classes", "n_test"}``
    (None values when a split has fewer than two classes).
    """
    classes = sorted(set(train_y))
    if len(classes) < 2 or len(set(test_y)) < 1 or not len(test_y):
        return {"feature": None, "train_accuracy": None, "test_accuracy": None, "chance": None,
                "classes": classes, "n_test": len(test_y)}
    ytr = np.array([classes.index(y) for y in train_y])
    means = np.stack([train_x[ytr == c].mean(0) for c in range(len(classes))])  # (classes, width)

    def predict(x):  # nearest class mean, feature by feature: (clips, width) -> predicted class
        return np.abs(x[:, None, :] - means[None]).argmin(1)

    acc_train = (predict(train_x) == ytr[:, None]).mean(0)
    j = int(np.argmax(acc_train))
    yte = np.array([classes.index(y) if y in classes else -1 for y in test_y])
    pred = np.abs(test_x[:, j][:, None] - means[:, j][None]).argmin(1)
    chance = max(np.mean(yte == c) for c in range(len(classes)))
    return {"feature": j, "train_accuracy": float(acc_train[j]), "test_accuracy": float(np.mean(pred == yte)),
            "chance": float(chance), "classes": classes, "n_test": len(test_y)}


def _reconstructed(model, sae, n_frames: int):
    """Hooks replacing the site by the SAE's reconstruction on the first ``n_frames`` (error zeroed)."""
    from intervene import hooks

    error_site = model.site(f"{sae.site}.sae.error")
    return hooks.replace(model, {error_site: (list(range(n_frames)), torch.zeros(1, n_frames, sae.d_in))})


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()) or "<empty>"


def _score(model, clips: list, sae=None) -> dict:
    """Keyword accuracy on single command words and WER on sentences, with ``sae``'s reconstruction
    in place of its site (None: the model as it is)."""
    import jiwer

    import tasks

    task = tasks.KeywordTask()
    words = [c for c in clips if c.text in task.words]
    sentences = [c for c in clips if c.kind == "speech" and c.text not in task.words]
    right, refs, hyps = 0, [], []
    for c in words:
        audio = model.prepare(c.load())
        if sae is not None:
            with _reconstructed(model, sae, model.num_frames(audio.shape[0])):
                right += task.predict(model, audio) == c.text
        else:
            right += task.predict(model, audio) == c.text
    for c in sentences:
        audio = model.prepare(c.load())
        if sae is not None:
            with _reconstructed(model, sae, model.num_frames(audio.shape[0])):
                hyps.append(model.transcribe(audio))
        else:
            hyps.append(model.transcribe(audio))
        refs.append(c.text)
    return {"keyword_clips": len(words), "sentence_clips": len(sentences),
            "keyword_accuracy": right / len(words) if words else None,
            "wer": float(jiwer.wer([_norm(r) for r in refs], [_norm(h) for h in hyps])) if refs else None,
            "transcripts": hyps[:5]}  # fmt: skip


def downstream_base(model, clips: list) -> dict:
    """The model's own scores on ``clips`` (what :func:`downstream` compares with; compute once per run)."""
    return _score(model, clips)


def downstream(model, sae, clips: list, base: dict | None = None) -> dict:
    """Keyword accuracy (single command words) and WER (sentences) with and without the SAE in place.

    ``base``: :func:`downstream_base` of the same clips, when already computed.
    """
    model.sites(sae=sae, features=[])
    base = base if base is not None else downstream_base(model, clips)
    out = {"keyword_clips": base["keyword_clips"], "sentence_clips": base["sentence_clips"]}
    for name, got in (("base", base), ("sae", _score(model, clips, sae))):
        out[f"{name}_keyword_accuracy"] = got["keyword_accuracy"]
        out[f"{name}_wer"] = got["wer"]
        out[f"{name}_transcripts"] = got["transcripts"]
    for key in ("keyword_accuracy", "wer"):
        a, b = out[f"base_{key}"], out[f"sae_{key}"]
        out[f"{key}_change"] = None if a is None or b is None else b - a
    return out


def steering_demo(model, sae, feature: int, utterance, word_index: int = 0, alpha: float | None = None) -> dict:
    """Steer ``feature`` over one word's frames of ``utterance``; transcripts before and after."""
    import intervene
    from intervene.features.store import read_activations

    model.sites(sae=sae, features=[feature])
    site = f"{sae.site}.sae.{feature}"
    w = utterance.words[word_index]
    if alpha is None:  # a few times the feature's largest activation on this clip
        x = read_activations(model, sae.site, model.prepare(utterance.audio))
        alpha = 4.0 * max(float(sae.encode(x)[:, feature].max()), 1.0)
    steer = intervene.Steering(site, np.ones(1, np.float32), alpha, times_s=(w.start_s, w.end_s))
    before = intervene.transcribe(model, utterance.audio)
    after = intervene.transcribe(model, utterance.audio, interventions=[steer])
    return {"feature": feature, "site": site, "word": w.word, "times_s": [w.start_s, w.end_s], "alpha": alpha,
            "text": utterance.text, "before": before.text, "after": after.text}
