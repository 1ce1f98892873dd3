"""The inference-backend interface shared by learned stereo and monocular models."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class BackendRequest:
    """What a model asks of a backend.

    ``weights`` is the file to run (ONNX, TensorRT engine) or the checkpoint the
    ``module_factory`` loads (PyTorch). ``module_factory`` builds the ``torch.nn.Module``
    with its weights loaded; only the PyTorch backend calls it. ``input_names`` and
    ``output_names``: the exported file's tensors, in the order the model passes and
    reads them (empty: all, in the file's order; the PyTorch backend ignores them).
    ``threads``: intra-op threads on CPU (ONNX Runtime; 0 = its default).
    ``rewrite_graph``: apply the exact graph rewrites of
    :mod:`~depth_ros.core.backends.onnx_graph` at load time (ONNX Runtime only; for
    TF-converted graphs such as HITNet's).
    """

    weights: Path | None
    device: str = "cpu"  # "cpu", "cuda", "cuda:N"
    fp16: bool = False
    module_factory: Callable[[], nn.Module] | None = None
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    threads: int = 0
    rewrite_graph: bool = False


class Backend(Protocol):
    """A loaded network: numpy float32 arrays in, numpy float32 arrays out."""

    name: str
    device: str

    def run(self, inputs: Sequence[NDArray[np.float32]]) -> list[NDArray[np.float32]]:
        """Run the network on ``inputs`` (in the request's input order); its outputs, float32."""
        ...

    def close(self) -> None:
        """Release the network and its device memory."""
        ...


@dataclass(frozen=True)
class BackendSpec:
    """A registered backend: its name, a check that returns why it is unavailable (or
    None), and its factory. ``extensions``: file types (``".xml"``) a plugin backend runs,
    added to ``WEIGHTS_BACKENDS`` (the built-in backends' are in that table)."""

    name: str
    unavailable: Callable[[], str | None]
    create: Callable[[BackendRequest], Backend]
    description: str = ""
    extensions: tuple[str, ...] = ()
