"""Evaluation output: ``metrics.json``, ``frames.csv`` and a self-contained HTML report
(images embedded as base64 PNG: one file to mail or attach to an issue)."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.colorize import colorize
from depth_ros.core.eval.evaluation import HIGHER_IS_BETTER, EvalResult, FrameMaps, TargetMaps

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CSS = """
body{font-family:sans-serif;margin:16px;color:#222}
table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px;text-align:right}
th{background:#eee}
td.name{text-align:left}
img{display:block;max-width:100%}
.maps td{vertical-align:top}
.meta td{text-align:left}
"""


def png_base64(rgb: NDArray[np.uint8]) -> str:
    """An RGB image as base64 PNG (for a data: URL)."""
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise ValueError("PNG encoding failed")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def _img(rgb: NDArray[np.uint8], alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{png_base64(rgb)}">'


def _fig_base64(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:.4g}"


def _plots(result: EvalResult) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    for key, err_label, gt_label in (
        ("disp", "|disparity error| (px)", "GT disparity (px)"),
        ("depth", "absolute relative depth error", "GT depth (m)"),
    ):
        parts = [m.samples for m in _targets(result, key)]
        if not parts:
            continue
        gt = np.concatenate([p[0] for p in parts])
        err = np.concatenate([p[1] for p in parts])
        if gt.size == 0:
            continue
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
        hi = float(np.percentile(err, 99)) or 1.0
        ax1.hist(np.clip(err, 0, hi), bins=60, color="#3b6ea8")
        ax1.set_xlabel(err_label)
        ax1.set_ylabel("pixels (sampled)")
        ax1.set_yscale("log")
        ax1.set_title("error histogram")
        edges = np.linspace(float(gt.min()), float(gt.max()) + 1e-6, 21)
        idx = np.clip(np.digitize(gt, edges) - 1, 0, len(edges) - 2)
        centres = 0.5 * (edges[1:] + edges[:-1])
        counts = np.bincount(idx, minlength=len(centres))
        means = np.bincount(idx, weights=err, minlength=len(centres)) / np.maximum(counts, 1)
        keep = counts > 0
        ax2.plot(centres[keep], means[keep], "o-", color="#c0392b")
        ax2.set_xlabel(gt_label)
        ax2.set_ylabel(f"mean {err_label}")
        ax2.set_title("error versus ground truth")
        ax2.grid(alpha=0.3)
        out.append(
            f'<img alt="{key}_samples plots" src="data:image/png;base64,{_fig_base64(fig)}">'
        )
        plt.close(fig)
    curves = [
        (f.name, f.maps.sparsification) for f in result.frames if f.maps.sparsification is not None
    ]
    if curves:
        fig, ax = plt.subplots(figsize=(5, 3.4))
        for name, curve in curves:
            ax.plot([c[0] * 100 for c in curve], [c[1] for c in curve], "o-", label=name)
        ax.set_xlabel("least confident predicted pixels removed (%)")
        ax.set_ylabel("bad-2.0 of the rest (%)")
        ax.set_title("sparsification (disparity/confidence)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        out.append(f'<img alt="sparsification" src="data:image/png;base64,{_fig_base64(fig)}">')
        plt.close(fig)
    return out


def _targets(result: EvalResult, key: str) -> list[TargetMaps]:
    """The ``key`` ("disp" or "depth") maps of every frame that has them."""
    found = (f.maps.disp if key == "disp" else f.maps.depth for f in result.frames)
    return [m for m in found if m is not None]


def _frame_maps(maps: FrameMaps) -> str:
    cells = []
    if maps.rgb is not None:
        cells.append(("input", maps.rgb))
    for prefix, invert, target in (("disp", False, maps.disp), ("depth", True, maps.depth)):
        if target is None:
            continue
        gt = target.gt
        fin = gt[np.isfinite(gt)]
        lo = float(np.percentile(fin, 2)) if fin.size else None
        hi = float(np.percentile(fin, 98)) if fin.size else None
        cells.append((f"{prefix} prediction", colorize(target.pred, lo, hi, invert)))
        cells.append((f"{prefix} ground truth", colorize(gt, lo, hi, invert)))
        err = target.err
        top = 4.0 if prefix == "disp" else 0.25
        cells.append(
            (
                f"{prefix} error (0..{top:g}{' px' if prefix == 'disp' else ''})",
                colorize(err, 0.0, top),
            )
        )
    return "".join(f"<td>{html.escape(t)}{_img(im, t)}</td>" for t, im in cells)


def render_html(result: EvalResult) -> str:
    """The self-contained HTML report of ``result``: metadata, aggregate, plots, per-frame table and
    maps."""
    agg = result.aggregate
    keys = list(agg)
    meta = [
        ("model", f"{result.model} ({result.model_output})"),
        ("dataset", f"{result.dataset}: {result.dataset_path}"),
        ("frames", str(len(result.frames))),
        ("evaluated", result.target),
        ("alignment", result.align),
        ("valid mask", result.valid_mask),
        ("aggregate", "mean over frames of the per-frame metrics; bad-N in percent"),
        *(("note", n) for n in result.notes),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in meta)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    agg_row = "".join(f"<td>{_fmt(agg[k])}</td>" for k in keys)
    frame_rows = []
    for f in result.frames:
        per = {**f.metrics, "seconds_per_frame": f.seconds}
        vals = "".join(f"<td>{_fmt(per.get(k))}</td>" for k in keys)
        frame_rows.append(
            f'<tr><td class="name">{html.escape(f.name)}</td>{vals}'
            f"<td>{_fmt(f.scale)}</td><td>{_fmt(f.shift)}</td></tr>"
        )
    maps = "".join(
        f'<h3>{html.escape(f.name)}</h3><table class="maps"><tr>{_frame_maps(f.maps)}</tr></table>'
        for f in result.frames
        if f.maps
    )
    title = f"depth-ros eval: {result.model} on {result.dataset}"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f'<table class="meta">{rows}</table>'
        f"<h2>Aggregate</h2><table><tr>{head}</tr><tr>{agg_row}</tr></table>"
        f"<h2>Plots</h2>{''.join(_plots(result))}"
        f"<h2>Per frame</h2><table><tr><th>frame</th>{head}<th>scale</th><th>shift</th></tr>"
        f"{''.join(frame_rows)}</table>"
        f"<h2>Maps</h2>{maps}</body></html>"
    )


def save_results(result: EvalResult, outdir: Path) -> dict[str, Path]:
    """Write metrics.json, frames.csv and report.html into ``outdir``."""
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": outdir / "metrics.json",
        "csv": outdir / "frames.csv",
        "html": outdir / "report.html",
    }
    doc = result.to_json()
    paths["json"].write_text(json.dumps(doc, indent=2) + "\n")
    keys = ["name", "seconds", "scale", "shift"]
    for fr in doc["frames"]:
        keys.extend(k for k in fr if k not in keys)
    with open(paths["csv"], "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        for fr in doc["frames"]:
            writer.writerow({k: ("" if fr.get(k) is None else fr.get(k)) for k in keys})
    paths["html"].write_text(render_html(result))
    return paths


def _aggregate(doc: Mapping[str, object]) -> Mapping[str, object]:
    agg = doc.get("aggregate", {})
    return agg if isinstance(agg, Mapping) else {}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def compare_table(docs: Sequence[Mapping[str, object]], labels: Sequence[str]) -> str:
    """Markdown table of the aggregate metrics of several metrics.json side by side; the
    best value of each row is in bold."""
    aggregates = [_aggregate(d) for d in docs]
    keys: list[str] = []
    for agg in aggregates:
        keys.extend(k for k in agg if k not in keys)
    lines = ["| metric | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for meta in ("model", "dataset", "align"):
        lines.append(f"| {meta} | " + " | ".join(str(d.get(meta, "")) for d in docs) + " |")
    for k in keys:
        vals = [_number(agg.get(k)) for agg in aggregates]
        finite = [v for v in vals if v is not None and math.isfinite(v)]
        best = None
        if len(finite) > 1 and k != "seconds_per_frame":
            best = max(finite) if k in HIGHER_IS_BETTER else min(finite)
        cells = [("**" + _fmt(v) + "**") if v is not None and v == best else _fmt(v) for v in vals]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
