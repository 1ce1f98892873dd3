"""Video Depth Anything, streaming: our implementation against the official code, frame by
frame on a real sequence.

The official repository (github.com/DepthAnything/Video-Depth-Anything, not part of this
package; it needs ``einops`` and ``easydict``) is an oracle only: its streaming
``VideoDepthAnything`` (``video_depth_stream.py``) is built with random weights (every
float tensor drawn, LayerScale and norm weights near 1; the frame position encodings keep
their sinusoids, as in the released files), saved as the official files are
(``torch.save(model.state_dict())``), that file is loaded by our model ID (strict,
unchanged), and both run the same frames in order: the official path is
``run_streaming.py``'s (``infer_video_depth_one(frame, input_size, device="cpu",
fp32=True)`` per RGB frame), ours ``predict`` per frame.

Sequence: the five Redwood frames of Open3D's test data (../shared/data/open3d_rgbd_samples/
TestData/RGBD/color, 640x480), played ``--passes`` times back and forth (5 frames per pass)
so that a long run also covers the window's steady state (it grows to 42 cached frames
over the first 11, then drops one each frame).

    python benchmarks/oracle_video_depth_anything.py --official /path/to/Video-Depth-Anything \
        [--encoders vits] [--input-size 140] [--passes 1] [--json]

Prints max |ours - official| / (official max - min) per frame (goal <= 1e-3), and how far
each frame is from the same frame run with no history (the temporal window's effect);
exits 0 with a "skipped" line when the official code or the frames are not found.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_CONFIGS = {
    "vits": {"encoder": "vits", "features": 64, "out_channels": [48, 96, 192, 384]},
    "vitb": {"encoder": "vitb", "features": 128, "out_channels": [96, 192, 384, 768]},
    "vitl": {"encoder": "vitl", "features": 256, "out_channels": [256, 512, 1024, 1024]},
}
_SUB = Path("shared") / "data" / "open3d_rgbd_samples" / "TestData" / "RGBD" / "color"
COLOR = next(
    (p for p in (ROOT.parent / _SUB, ROOT.parent.parent / _SUB) if p.is_dir()), ROOT.parent / _SUB
)


def load_frames(passes: int) -> list[np.ndarray]:
    """The Redwood colour frames (RGB uint8), forward then backward, ``passes`` times."""
    import cv2

    frames = [
        np.ascontiguousarray(cv2.imread(str(p))[:, :, ::-1]) for p in sorted(COLOR.glob("*.jpg"))
    ]
    out: list[np.ndarray] = []
    for i in range(passes):
        out += frames if i % 2 == 0 else frames[::-1]
    return out


def randomise(net: Any, seed: int) -> None:
    """Random weights with the scale of a trained network (LayerScale and norms near 1);
    the sinusoidal frame position encodings (``pe`` buffers) are kept."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if not t.dtype.is_floating_point or name.endswith(".pe"):
                continue
            v = torch.randn(t.shape, generator=g) * 0.05
            leaf = name.rsplit(".", 2)
            if leaf[-1] == "gamma" or (leaf[-1] == "weight" and "norm" in ".".join(leaf[:-1])):
                v += 1.0
            t.copy_(v)


def official_model(official: Path, encoder: str) -> Any:
    sys.path.insert(0, str(official))
    from video_depth_anything.video_depth_stream import VideoDepthAnything

    model = VideoDepthAnything(**_CONFIGS[encoder]).eval()  # type: ignore[arg-type]
    randomise(model, seed=1)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, help="checkout of Video-Depth-Anything")
    parser.add_argument("--encoders", nargs="+", default=["vits"], choices=list(_CONFIGS))
    parser.add_argument("--input-size", type=int, default=140)
    parser.add_argument("--passes", type=int, default=1, help="back-and-forth passes of 5")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    stream = None if args.official is None else args.official / "video_depth_anything"
    if stream is None or not (stream / "video_depth_stream.py").is_file():
        print(f"skipped: official Video-Depth-Anything code not found ({args.official})")
        return 0
    if not COLOR.is_dir():
        print(f"skipped: no Redwood frames at {COLOR}")
        return 0
    import torch

    from depth_ros.core.models import ModelConfig, build_model

    torch.set_num_threads(max(1, torch.get_num_threads()))
    frames = load_frames(args.passes)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for encoder in args.encoders:
            official = official_model(args.official, encoder)
            path = Path(tmp) / f"video_depth_anything_{encoder}.pth"
            torch.save(official.state_dict(), path)
            config = ModelConfig(weights=path, input_size=args.input_size)
            ours: Any = build_model(f"video_depth_anything_{encoder}", config)
            alone: Any = build_model(f"video_depth_anything_{encoder}", config)
            rows = []
            for i, rgb in enumerate(frames):
                ref = official.infer_video_depth_one(
                    rgb, input_size=args.input_size, device="cpu", fp32=True
                )
                out = ours.predict(rgb)
                alone.reset()
                single = alone.predict(rgb)  # the same frame without history
                rng = float(ref.max() - ref.min())
                rows.append(
                    {
                        "frame": i,
                        "max_abs_diff": float(np.abs(out - ref).max()),
                        "output_range": rng,
                        "relative": float(np.abs(out - ref).max()) / rng,
                        "history_effect": float(np.abs(single - ref).max()) / rng,
                    }
                )
            results.append(
                {
                    "model": f"video_depth_anything_{encoder}",
                    "image": list(frames[0].shape[:2]),
                    "input_size": args.input_size,
                    "frames": rows,
                    "worst_relative": max(r["relative"] for r in rows),
                }
            )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for res in results:
            print(f"{res['model']} at input size {res['input_size']} on {res['image']}:")
            for r in res["frames"]:
                print(
                    f"  frame {r['frame']}: max|diff| {r['max_abs_diff']:.3g} / range "
                    f"{r['output_range']:.3g} = {r['relative']:.2e}; without history "
                    f"{r['history_effect']:.2e}"
                )
    return 0 if all(r["worst_relative"] <= 1e-3 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
