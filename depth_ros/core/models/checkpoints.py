"""Safe loading of checkpoint files (PyTorch ``.pth``/``.pt``/``.tar``/``.ckpt``,
``.safetensors``) with errors that name the file and what was expected.

Nothing here unpickles arbitrary objects: PyTorch files are read with
``torch.load(weights_only=True)``. torch and safetensors are imported inside the
functions, so importing this module is cheap.

Typical use in a model's ``build``::

    path = require_file(config.weights, what="Depth Anything V2 ViT-S checkpoint",
                        source=spec.weights_source)
    state = load_state_dict_file(path, expected="Depth Anything V2 ViT-S checkpoint")
    load_strict(net, state, path)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias, TypeVar

from depth_ros.core.errors import WeightsError

if TYPE_CHECKING:
    import torch

__all__ = [
    "WRAPPER_KEYS",
    "HasStateDict",
    "StateDict",
    "check_state_dict",
    "load_state_dict_file",
    "load_strict",
    "require_file",
    "strip_prefix",
    "unwrap_state_dict",
]

#: Keys under which training scripts commonly nest the state dict, tried in order.
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "module")

#: a checkpoint's contents: parameter and buffer name → tensor
StateDict: TypeAlias = "dict[str, torch.Tensor]"
_V = TypeVar("_V")


class HasStateDict(Protocol):
    """What :func:`check_state_dict` compares with: a ``torch.nn.Module``, or a view of
    one under other key names."""

    def state_dict(self) -> Mapping[str, torch.Tensor]:
        """Name → tensor of every parameter and buffer."""
        ...


_MAX_LISTED = 8
_OPTIONAL_SUFFIX = ".num_batches_tracked"


def _listing(names: Iterable[str]) -> str:
    items = sorted(names)
    shown = ", ".join(items[:_MAX_LISTED])
    if len(items) > _MAX_LISTED:
        shown += f", ... ({len(items)} in all)"
    return shown


def require_file(
    path: Path | str | None,
    *,
    what: str,
    source: str | None = None,
    default_name: str | None = None,
) -> Path:
    """Return ``path`` as a Path if it is an existing file; otherwise a WeightsError that
    says which file was expected and where the official release can be obtained."""
    where = f"; the official release can be obtained from {source}" if source else ""
    name = f" ({default_name})" if default_name else ""
    if path is None or str(path) == "":
        raise WeightsError(f"no weights file given: expected the {what}{name}{where}")
    p = Path(path).expanduser()
    if not p.exists():
        raise WeightsError(f"weights file {p} not found: expected the {what}{name}{where}")
    if not p.is_file():
        raise WeightsError(f"weights path {p} is not a file: expected the {what}{name}{where}")
    return p


def strip_prefix(state: Mapping[str, _V], prefix: str = "module.") -> dict[str, _V]:
    """Remove ``prefix`` from keys when every key has it (``nn.DataParallel`` checkpoints)."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return dict(state)


def unwrap_state_dict(obj: object, path: Path | str, expected: str) -> StateDict:
    """Find the state dict in a loaded checkpoint object: the object itself, or one nested
    under a key of :data:`WRAPPER_KEYS`; strip a common ``module.`` prefix."""
    import torch

    def is_state(o: object) -> bool:
        return (
            isinstance(o, Mapping)
            and len(o) > 0
            and all(isinstance(k, str) for k in o)
            and all(isinstance(v, torch.Tensor) for v in o.values())
        )

    current = obj
    for _ in range(3):  # at most a few levels of wrapping
        if is_state(current):
            assert isinstance(current, Mapping)
            return strip_prefix(current)
        if not isinstance(current, Mapping):
            break
        for key in WRAPPER_KEYS:
            if key in current and isinstance(current[key], Mapping):
                current = current[key]
                break
        else:
            break
    if isinstance(obj, Mapping):
        top = _listing(str(k) for k in obj)
        found = f"a dict with keys {top}" if top else "an empty dict"
    else:
        found = f"a {type(obj).__name__}"
    raise WeightsError(
        f"{path}: found {found}, not a state dict of tensors (directly or under "
        f"{'/'.join(WRAPPER_KEYS)}); expected the {expected}"
    )


def load_state_dict_file(path: Path | str, *, expected: str = "model checkpoint") -> StateDict:
    """Load a checkpoint file safely and return its ``state_dict`` (name → ``torch.Tensor``).

    ``.safetensors`` files are read with safetensors; everything else with
    ``torch.load(map_location="cpu", weights_only=True)``. Nested ``state_dict``/``model``
    wrapping and a ``module.`` prefix on every key are removed. A missing, unreadable,
    corrupt or non-checkpoint file raises :class:`WeightsError` naming ``path`` and
    ``expected``.
    """
    p = require_file(path, what=expected)
    if p.suffix.lower() == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as exc:  # pragma: no cover - safetensors is a requirement
            raise WeightsError(
                f"{p}: reading .safetensors files needs the safetensors package ({exc})"
            ) from exc
        try:
            obj: object = load_file(str(p), device="cpu")
        except Exception as exc:
            raise WeightsError(
                f"{p} is not a readable safetensors file ({type(exc).__name__}: {exc}); "
                f"expected the {expected}"
            ) from exc
    else:
        import pickle
        import zipfile

        import torch

        with open(p, "rb") as f:
            head = f.read(2)
        if not zipfile.is_zipfile(p) and head[:1] != b"\x80":
            raise WeightsError(
                f"{p} is not a PyTorch checkpoint (neither a zip archive nor a pickle "
                f"stream: corrupt, truncated or another format); expected the {expected}"
            )
        try:
            obj = torch.load(str(p), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            why = next((ln for ln in lines if "Unsupported" in ln), lines[0] if lines else "")
            raise WeightsError(
                f"{p} cannot be loaded safely: it holds more than tensors and torch.load("
                f"weights_only=True) refused it ({why}); expected a plain checkpoint of "
                f"tensors, the {expected}"
            ) from exc
        except Exception as exc:
            raise WeightsError(
                f"{p} is not a readable PyTorch checkpoint ({type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); "
                f"expected the {expected}"
            ) from exc
    return unwrap_state_dict(obj, p, expected)


def check_state_dict(
    module: HasStateDict,
    state: Mapping[str, torch.Tensor],
    path: Path | str,
    expected: str = "checkpoint",
) -> None:
    """Compare ``state`` with ``module.state_dict()`` and raise :class:`WeightsError`
    listing missing keys, unexpected keys and shape mismatches, if any."""
    own = module.state_dict()
    # BatchNorm's batch counter (added in PyTorch 0.4.1) is absent from older checkpoints;
    # it does not affect inference and load_strict fills it in.
    missing = {k for k in set(own) - set(state) if not k.endswith(_OPTIONAL_SUFFIX)}
    unexpected = set(state) - set(own)
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if not (missing or unexpected or mismatched):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys: {_listing(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys: {_listing(unexpected)}")
    if mismatched:
        shown = "; ".join(mismatched[:_MAX_LISTED])
        if len(mismatched) > _MAX_LISTED:
            shown += f"; ... ({len(mismatched)} in all)"
        parts.append(f"{len(mismatched)} shape mismatches (file vs model): {shown}")
    raise WeightsError(
        f"{path} does not match the {type(module).__name__} architecture "
        f"(expected the {expected}): " + "; ".join(parts)
    )


def load_strict(
    module: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    path: Path | str,
    expected: str = "checkpoint",
) -> None:
    """Load ``state`` into ``module`` with a strict key and shape match, or raise
    :class:`WeightsError` naming the file and listing the differences. Only BatchNorm
    ``num_batches_tracked`` counters may be missing (pre-0.4.1 checkpoints)."""
    check_state_dict(module, state, path, expected)
    own = module.state_dict()
    filled = dict(state)
    for key in own:
        if key.endswith(_OPTIONAL_SUFFIX) and key not in filled:
            filled[key] = own[key]
    try:
        module.load_state_dict(filled, strict=True)
    except RuntimeError as exc:  # e.g. dtype trouble not caught above
        raise WeightsError(f"{path}: cannot load into {type(module).__name__}: {exc}") from exc


def random_state(state: Mapping[str, torch.Tensor], seed: int = 0, std: float = 0.02) -> StateDict:
    """Random weights for every floating tensor of ``state`` (same names, shapes, dtypes):
    N(0, std), plus 1 for LayerScale ``gamma`` and normalisation weights so activations
    stay finite through deep networks. For timing and trying pipelines without the real
    weights (``--random-weights``): a network built with ``weight_init="skip"`` holds
    uninitialised memory, which can give NaN. Integer buffers are kept."""
    import torch

    g = torch.Generator().manual_seed(seed)
    out: StateDict = {}
    for name, value in state.items():
        if not value.dtype.is_floating_point:
            out[name] = value
            continue
        t = torch.randn(value.shape, generator=g, dtype=torch.float32) * std
        leaf = name.rsplit(".", 1)[-1]
        parent = name.rsplit(".", 2)[-2] if name.count(".") else ""
        if leaf in ("gamma", "gamma_1", "gamma_2") or (
            leaf == "weight" and ("norm" in parent or parent.startswith(("bn", "ln")))
        ):
            t += 1.0
        if leaf == "running_var":
            t = t.abs() + 1.0
        out[name] = t.to(value.dtype)
    return out
