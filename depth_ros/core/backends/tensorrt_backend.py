"""TensorRT engine backend (``.engine`` / ``.plan`` / ``.trt`` files built with trtexec or
``tensorrt.Builder`` for this GPU and TensorRT version). Needs the ``tensorrt`` Python
module (TensorRT 10 tensor API) and PyTorch with CUDA, which holds the device buffers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.backends import register_backend
from depth_ros.core.backends.base import BackendRequest, BackendSpec
from depth_ros.core.errors import ConfigError, WeightsError
from depth_ros.core.models.checkpoints import require_file


def _unavailable() -> str | None:
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        return f"the tensorrt Python module cannot be imported ({exc}); install TensorRT"
    try:
        import torch
    except ImportError:
        return "the tensorrt backend needs PyTorch with CUDA for its buffers; torch is missing"
    if not torch.cuda.is_available():
        return "no CUDA device is visible to PyTorch"
    return None


class TensorRTBackend:
    name = "tensorrt"

    def __init__(self, request: BackendRequest) -> None:
        import tensorrt as trt
        import torch

        from depth_ros.core.backends.torch_backend import torch_device

        path = require_file(request.weights, what="TensorRT engine file (.engine/.plan/.trt)")
        self._device = torch_device(request.device)
        if self._device.type != "cuda":
            raise ConfigError(f"the tensorrt backend runs on CUDA only; got {request.device!r}")
        self.device = str(self._device)
        self._torch = torch
        torch.cuda.set_device(self._device)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise WeightsError(
                f"{path} cannot be deserialised by TensorRT {trt.__version__}; expected an "
                "engine built for this GPU and TensorRT version"
            )
        self._engine: Any = engine
        self._context: Any = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        ins = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self._inputs = list(request.input_names) or ins
        self._outputs = list(request.output_names) or outs
        missing = [n for n in (*self._inputs, *self._outputs) if n not in names]
        if missing:
            raise WeightsError(
                f"{path} has no tensor named {', '.join(missing)}; its tensors are "
                f"{', '.join(names)}: not the expected model"
            )
        self._dtypes = {n: self._torch_dtype(engine.get_tensor_dtype(n)) for n in names}
        self._stream: Any = torch.cuda.Stream(device=self._device)  # type: ignore[no-untyped-call]

    def _torch_dtype(self, dtype: Any) -> Any:
        import tensorrt as trt

        torch = self._torch
        table = {
            trt.float32: torch.float32,
            trt.float16: torch.float16,
            trt.int32: torch.int32,
            trt.int8: torch.int8,
            trt.bool: torch.bool,
        }
        return table.get(dtype, torch.float32)

    def run(self, inputs: Sequence[NDArray[np.float32]]) -> list[NDArray[np.float32]]:
        torch = self._torch
        if len(inputs) != len(self._inputs):
            raise ConfigError(f"the engine takes {len(self._inputs)} inputs, got {len(inputs)}")
        keep = []
        with torch.cuda.stream(self._stream):
            for name, x in zip(self._inputs, inputs, strict=True):
                t = (
                    torch.from_numpy(np.ascontiguousarray(x))
                    .to(self._device, self._dtypes[name])
                    .contiguous()
                )
                keep.append(t)
                self._context.set_input_shape(name, tuple(t.shape))
                self._context.set_tensor_address(name, t.data_ptr())
            results = []
            for name in self._outputs:
                shape = tuple(self._context.get_tensor_shape(name))
                out = torch.empty(shape, dtype=self._dtypes[name], device=self._device)
                results.append(out)
                self._context.set_tensor_address(name, out.data_ptr())
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError("TensorRT execution failed")
        self._stream.synchronize()
        return [r.float().cpu().numpy() for r in results]

    def close(self) -> None:
        self._context = None
        self._engine = None


register_backend(
    BackendSpec(
        name="tensorrt",
        unavailable=_unavailable,
        create=TensorRTBackend,
        description="TensorRT engine on CUDA (needs the tensorrt module)",
    )
)
