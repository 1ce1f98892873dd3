"""PyTorch backend: runs the ``torch.nn.Module`` a model's ``module_factory`` builds, on
CPU or CUDA, optionally in half precision on CUDA."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.backends import register_backend
from depth_ros.core.backends._device import parse_device
from depth_ros.core.backends.base import BackendRequest, BackendSpec
from depth_ros.core.errors import ConfigError


def _unavailable() -> str | None:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        return f"the torch package cannot be imported ({exc}); pip install torch"
    return None


def torch_device(device: str) -> Any:
    """A ``torch.device`` for ``device``; ConfigError if CUDA is asked for and absent."""
    import torch

    kind, index = parse_device(device)
    if kind == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        built = torch.version.cuda
        why = f"built with CUDA {built} but no GPU is visible" if built else "built without CUDA"
        raise ConfigError(
            f"device {device!r} requested but CUDA is not available to PyTorch "
            f"(torch {torch.__version__} {why}); use device 'cpu'"
        )
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(f"device {device!r} requested but only {count} CUDA device(s) exist")
    return torch.device("cuda", index)


class TorchBackend:
    name = "torch"

    def __init__(self, request: BackendRequest) -> None:
        import torch

        if request.module_factory is None:
            raise ConfigError(
                "this model has no PyTorch implementation (backend 'torch'); give its ONNX "
                "file (backend 'onnxruntime') or a TensorRT engine"
            )
        self._device = torch_device(request.device)
        self.device = str(self._device)
        if request.fp16 and self._device.type != "cuda":
            raise ConfigError("fp16 needs a CUDA device; got device " + repr(request.device))
        self._dtype = torch.float16 if request.fp16 else torch.float32
        module = request.module_factory()
        module.eval()
        self._module: Any = module.to(device=self._device, dtype=self._dtype)

    def run(self, inputs: Sequence[NDArray[np.float32]]) -> list[NDArray[np.float32]]:
        import torch

        tensors = [
            torch.from_numpy(np.ascontiguousarray(x)).to(self._device, self._dtype) for x in inputs
        ]
        with torch.inference_mode():
            out = self._module(*tensors)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return [o.detach().float().cpu().numpy().astype(np.float32, copy=False) for o in outs]

    def close(self) -> None:
        import torch

        self._module = None
        if self._device.type == "cuda":
            torch.cuda.empty_cache()


register_backend(
    BackendSpec(
        name="torch",
        unavailable=_unavailable,
        create=TorchBackend,
        description="PyTorch on CPU or CUDA (fp16 on CUDA)",
    )
)
