"""Map figures: the title names the site, cells that were not computed are drawn apart from 0,
one colour scale across maps, and reports link the map data (issue 12)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from intervene.app.plotting import NOT_COMPUTED, plot_map, shared_scale, sites_text  # noqa: E402
from intervene.app.report import Report  # noqa: E402
from intervene.maps import CausalMap  # noqa: E402

SITES = [f"encoder.{i}.block_output" for i in range(4)]


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def _map(values, times_s=(0.4, 0.5, 0.6, 0.7), duration_s=1.2, spectrogram=False, sites=SITES):
    values = np.asarray(values, dtype=float)
    meta = {"window_ms": 100.0, "duration_s": duration_s, "sites": sites, "model": "whisper-tiny.en",
            "task": "keyword", "corruption": {"kind": "word_swap"}, "answers": ["yes", "no"],
            "words": [["yes", 0.42, 0.68]], "direction": "denoise", "metric": "logit_diff", "method": "exact"}
    return CausalMap(values, ("layer", "frame"), {"layer": list(range(values.shape[0])),
                     "frame": [int(t / 0.02) for t in times_s]}, np.zeros_like(values), 8.0, -7.0,
                     times_s=np.asarray(times_s), meta=meta,
                     spectrogram_clean=np.zeros((80, int(duration_s * 100))) if spectrogram else None)  # fmt: skip


def _pixel(fig, ax, x, y):
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    px, py = ax.transData.transform((x, y))
    return rgba[int(round(rgba.shape[0] - py)), int(round(px)), :3].astype(int)


def _heatmap_axes(fig):
    return [ax for ax in fig.axes if ax.images and ax.get_ylabel() == "layer"]


@pytest.mark.parametrize("spectrogram", [False, True])
def test_title_names_the_site_and_the_words(spectrogram):
    fig = plot_map(_map(np.zeros((4, 4)), spectrogram=spectrogram))
    titles = " ".join(ax.get_title(loc="left") for ax in fig.axes)
    assert "site: encoder.block_output, layers 0-3" in titles
    assert "word_swap 'yes' -> 'no'" in titles
    fig = plot_map(_map(np.zeros((1, 4)), sites=["encoder.2.mlp_output"]))
    assert "site: encoder.2.mlp_output" in fig.axes[0].get_title(loc="left")


def test_sites_text():
    assert sites_text(SITES) == "encoder.block_output, layers 0-3"
    assert sites_text(["decoder.1.block_output", "decoder.3.block_output"]) == "decoder.block_output, layers 1,3"
    assert sites_text([]) == "?"


@pytest.mark.parametrize("spectrogram", [False, True])
def test_cells_not_computed_are_hatched_not_white(spectrogram):
    values = np.array([[0.0, 0.5, 1.0, np.nan]] * 4)
    fig = plot_map(_map(values, spectrogram=spectrogram))
    (ax,) = _heatmap_axes(fig)
    lo, hi = ax.get_xlim()
    assert lo <= 0.0 and hi >= 1.2  # the whole clip is on the axis, not only the computed span
    zero = _pixel(fig, ax, 0.45, 1)  # a computed cell whose effect is 0
    outside = _pixel(fig, ax, 1.0, 1)  # past the computed span (0.4-0.8 s)
    before = _pixel(fig, ax, 0.1, 1)
    nan_cell = _pixel(fig, ax, 0.75, 2)  # a cell inside the span that has no value
    assert zero.min() > 235  # 0 is (near) white on the diverging scale
    for rgb in (outside, before, nan_cell):
        assert rgb.max() < 235, rgb  # grey (hatched), visibly not the colour of 0
    hatched = [p for p in ax.patches if p.get_hatch() == NOT_COMPUTED["hatch"]]
    assert hatched and "hatched: not computed" in fig.axes[-1].get_xlabel() + "".join(a.get_xlabel() for a in fig.axes)


def test_token_maps_hatch_missing_cells_too():
    m = CausalMap(np.array([[0.2, np.nan]]), ("layer", "token"), {"layer": [0], "token": [0, 1]},
                  np.zeros((1, 2)), 1.0, 0.0, meta={"sites": ["decoder.0.block_output"]})
    fig = plot_map(m)
    ax = fig.axes[0]
    assert _pixel(fig, ax, 1, 0).max() < 235 and any(p.get_hatch() for p in ax.patches)


def test_one_colour_scale_across_maps():
    small, large = _map(np.full((4, 4), 0.2)), _map(np.array([[1.6, -0.4, 0.0, 0.1]] * 4))
    vmax = shared_scale([small, large])
    assert vmax == pytest.approx(1.6)
    for m in (small, large):
        fig = plot_map(m, vmax=vmax)
        (ax,) = _heatmap_axes(fig)
        assert ax.images[0].norm.vmax == pytest.approx(1.6) and ax.images[0].norm.vmin == pytest.approx(-1.6)
    assert shared_scale([_map(np.full((1, 4), np.nan))]) == 1.0


def test_report_links_map_data(tmp_path):
    r = Report("maps")
    r.links([("map data", "maps/a b.npz"), ("pair", "pairs/a/pair.json")])
    page = r.html()
    assert '<a href="maps/a%20b.npz">map data</a>' in page and '<a href="pairs/a/pair.json">pair</a>' in page
