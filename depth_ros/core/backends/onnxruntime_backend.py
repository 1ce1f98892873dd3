"""ONNX Runtime backend: CPU, CUDA and TensorRT execution providers when present.

``BackendRequest.fp16`` on CUDA puts the TensorRT execution provider first (engines are
built on the first run and cached nowhere; slow start); ``BackendRequest.threads`` sets the
intra-op threads on CPU (0 = ONNX Runtime's default: one per physical core, measured as
fast as 2 on this 2-core machine; sequential execution and ORT_ENABLE_ALL are ONNX
Runtime's defaults and measured fastest too). ``BackendRequest.rewrite_graph`` gives the
session the model after :func:`~depth_ros.core.backends.onnx_graph.rewritten_model`
(rewritten in memory at each load, well under a second for HITNet's 3 MB graph).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.backends import register_backend
from depth_ros.core.backends._device import parse_device
from depth_ros.core.backends.base import BackendRequest, BackendSpec
from depth_ros.core.errors import ConfigError, WeightsError
from depth_ros.core.models.checkpoints import require_file

_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}

#: an execution provider: its name, or its name and options
Provider: TypeAlias = str | tuple[str, dict[str, int | bool]]


def _unavailable() -> str | None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        return f"the onnxruntime package cannot be imported ({exc}); pip install onnxruntime"
    return None


def select_providers(request: BackendRequest, available: Sequence[str]) -> list[Provider]:
    """The provider list for ``request`` given the installed ``available`` providers."""
    kind, index = parse_device(request.device)
    if kind == "cpu":
        if request.fp16:
            raise ConfigError("fp16 and TensorRT with onnxruntime need device 'cuda'")
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in available:
        raise ConfigError(
            f"device {request.device!r} requested but onnxruntime has no "
            f"CUDAExecutionProvider (available: {', '.join(available)}); install "
            "onnxruntime-gpu or use device 'cpu'"
        )
    providers: list[Provider] = []
    if request.fp16:
        if "TensorrtExecutionProvider" not in available:
            raise ConfigError(
                "fp16 with onnxruntime needs the TensorrtExecutionProvider, "
                f"which is not installed (available: {', '.join(available)})"
            )
        providers.append(
            ("TensorrtExecutionProvider", {"device_id": index, "trt_fp16_enable": True})
        )
    providers.append(("CUDAExecutionProvider", {"device_id": index}))
    providers.append("CPUExecutionProvider")
    return providers


class OnnxRuntimeBackend:
    """A :class:`~depth_ros.core.backends.base.Backend` running an ONNX file in an onnxruntime
    session."""

    name = "onnxruntime"

    def __init__(self, request: BackendRequest) -> None:
        import onnxruntime as ort

        path = require_file(request.weights, what="ONNX model file (.onnx)")
        providers = select_providers(request, ort.get_available_providers())
        opts = ort.SessionOptions()
        if request.threads:
            opts.intra_op_num_threads = request.threads
        opts.log_severity_level = 3
        model: str | bytes = str(path)
        if request.rewrite_graph:
            from depth_ros.core.backends.onnx_graph import rewritten_model

            model = rewritten_model(path)
        try:
            # onnxruntime has no type information: the session is typed by its use
            self._session = ort.InferenceSession(model, opts, providers=providers)
        except Exception as exc:
            raise WeightsError(
                f"{path} cannot be loaded by onnxruntime ({type(exc).__name__}: "
                f"{str(exc).strip()[:300]}); expected a valid ONNX model file"
            ) from exc
        self.device = request.device
        meta = self._session.get_modelmeta().custom_metadata_map
        self.metadata: dict[str, str] = dict(meta) if meta else {}
        self.providers: list[str] = list(self._session.get_providers())
        inputs = self._session.get_inputs()
        self._input_names = list(request.input_names) or [i.name for i in inputs]
        known = {i.name: i for i in inputs}
        unknown = [n for n in self._input_names if n not in known]
        if unknown:
            raise WeightsError(
                f"{path} has no input named {', '.join(unknown)}; its inputs are "
                f"{', '.join(known)}: not the expected model"
            )
        self._input_types = [_DTYPES.get(known[n].type, np.float32) for n in self._input_names]
        outputs = [o.name for o in self._session.get_outputs()]
        self._output_names = list(request.output_names) or outputs
        unknown = [n for n in self._output_names if n not in outputs]
        if unknown:
            raise WeightsError(
                f"{path} has no output named {', '.join(unknown)}; its outputs are "
                f"{', '.join(outputs)}: not the expected model"
            )

    def run(self, inputs: Sequence[NDArray[np.float32]]) -> list[NDArray[np.float32]]:
        """Run the session: ``inputs`` by the request's input names, cast to the file's input
        types."""
        if len(inputs) != len(self._input_names):
            raise ConfigError(
                f"the network takes {len(self._input_names)} inputs "
                f"({', '.join(self._input_names)}), got {len(inputs)}"
            )
        feed = {
            n: np.ascontiguousarray(x, dtype=t)
            for n, x, t in zip(self._input_names, inputs, self._input_types, strict=True)
        }
        outs = self._session.run(self._output_names, feed)
        return [np.asarray(o, dtype=np.float32) for o in outs]

    def close(self) -> None:
        """Drop the session (and with it its device memory)."""
        self._session = None


register_backend(
    BackendSpec(
        name="onnxruntime",
        unavailable=_unavailable,
        create=OnnxRuntimeBackend,
        description="ONNX Runtime (CPU; CUDA and TensorRT execution providers when installed)",
    )
)
