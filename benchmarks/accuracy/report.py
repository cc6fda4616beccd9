"""Tables, figures and report sections of ``keyword_accuracy.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.common import Section, Table, heatmap, new_figure, save_figure
from tasks.atomic import write_bytes

__all__ = ["confusion_table", "summary_table", "group_table", "per_voice_figure", "error_audio", "build_sections"]


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in Path(name).name) or "model"


def confusion_table(name: str, summary: dict) -> Table:
    words = summary["words"]
    rows = [[w, *summary["confusion"][i]] for i, w in enumerate(words)]
    return Table(["true \\ predicted", *words], rows, title=f"{name}: confusion (clip counts)", shade=True)


def summary_table(per_model: dict) -> Table:
    rows = []
    for name, s in per_model.items():
        low, high = s["accuracy_ci95"]
        worst = ", ".join(f"{w} {s['per_word_accuracy'][w]:.2f}" for w in s["worst_words"]) or "none"
        rows.append([name, s["n"], s["accuracy"], f"{low:.3f}-{high:.3f}", worst])
    return Table(["model", "clips", "accuracy", "95% CI", "worst words"], rows, title="Zero-shot keyword accuracy")


def group_table(per_model: dict, attribute: str) -> Table | None:
    groups = list(dict.fromkeys(g for s in per_model.values() for g in s[f"per_{attribute}_accuracy"]))
    if not groups:
        return None
    rows = [[g, *(s[f"per_{attribute}_accuracy"].get(g, {}).get("accuracy") for s in per_model.values())]
            for g in groups]  # fmt: skip
    return Table([attribute, *per_model], rows, title=f"Accuracy per {attribute}")


def per_voice_figure(per_model: dict):
    voices = list(dict.fromkeys(v for s in per_model.values() for v in s["per_voice_accuracy"]))
    fig = new_figure(max(6.0, 0.6 * len(voices) * max(1, len(per_model)) ** 0.5), 4.0)
    ax = fig.add_subplot()
    width = 0.8 / len(per_model)
    for k, (name, s) in enumerate(per_model.items()):
        values = [s["per_voice_accuracy"].get(v, {}).get("accuracy", np.nan) for v in voices]
        ax.bar(np.arange(len(voices)) + (k - (len(per_model) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(range(len(voices)), voices, rotation=45, ha="right")
    ax.set(ylim=(0, 1.15), yticks=np.linspace(0, 1, 6), ylabel="accuracy", title="Accuracy per voice")
    ax.legend(loc="upper left", ncols=len(per_model), fontsize=8)
    return fig


def error_audio(out: Path, name: str, examples: list, summary: dict, limit: int) -> list:
    """Copy up to ``limit`` misclassified clips (one per true word first) into ``out/audio``."""
    errors = [(ex, c) for ex, c in zip(examples, summary["clips"]) if c["predicted"] != c["word"]]
    first_of_word: dict = {}
    for i, (_, clip) in enumerate(errors):
        first_of_word.setdefault(clip["word"], i)
    firsts = sorted(first_of_word.values())
    rest = [i for i in range(len(errors)) if i not in firsts]
    chosen = [errors[i] for i in (firsts + rest)[:limit]]
    items = []
    for ex, clip in chosen:
        path = out / "audio" / f"{_slug(name)}-{ex.word}-{ex.path.stem}.wav"
        if not path.is_file():
            write_bytes(path, ex.path.read_bytes())
        items.append((path, f"'{clip['word']}' heard as '{clip['predicted']}' ({ex.speaker})"))
    return items


def build_sections(out: Path, per_model: dict, examples: list, data: dict, settings, command: str) -> list:
    """Write the figures and return the report's sections."""
    source = (f"synthetic Speech Commands set: {len(data['voices'])} voices x rates {data['rates']} x pitches "
              f"{data['pitches']} x {len(data['words'])} words" if data["kind"] == "synthetic"
              else f"Speech Commands folder {data['root']}, split {data['split']}" if data["kind"] == "folder"
              else f"{data['spec']}: {data['n_clips']} one-word clips ({data['skipped_not_a_label_word']} other "
                   "clips skipped)")  # fmt: skip
    text = (f"{data['n_clips']} clips from a {source}. Forced choice among {', '.join(settings.words)}: the "
            f"prediction is the word with the highest teacher-forced log-probability after the decoder "
            f"prompt.\n\nCommand: {command}")  # fmt: skip
    sections = [Section("Summary", text, tables=[summary_table(per_model)])]
    if any(s["per_voice_accuracy"] for s in per_model.values()):
        save_figure(per_voice_figure(per_model), out / "per-voice.png")
        tables = [t for t in (group_table(per_model, a) for a in ("voice", "rate", "pitch")) if t is not None]
        sections.append(Section("Per voice, rate and pitch", tables=tables, images=["per-voice.png"]))
    for name, s in per_model.items():
        words, confusion = s["words"], np.asarray(s["confusion"], dtype=float)
        fraction = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
        fig = heatmap(fraction, words, words, title=f"{name}: accuracy {s['accuracy']:.3f} (n={s['n']})",
                      xlabel="predicted", ylabel="true word", annotations=np.asarray(s["confusion"]),
                      colorbar_label="fraction of the true word's clips", vmin=0.0, vmax=1.0)  # fmt: skip
        png = f"confusion-{_slug(name)}.png"
        save_figure(fig, out / png)
        confusions = Table(["true", "predicted", "clips"],
                           [[c["true"], c["predicted"], c["count"]] for c in s["top_confusions"]],
                           title="Most frequent confusions")  # fmt: skip
        per_word = Table(["word", "accuracy"], list(s["per_word_accuracy"].items()), title="Accuracy per word")
        audio = error_audio(out, name, examples, s, settings.audio_examples)
        sections.append(Section(name, tables=[confusion_table(name, s), per_word, confusions], images=[png],
                                audio=audio))  # fmt: skip
    return sections
