"""Configuration profiles: model → profile file → node parameters and backend.

A profile is ``config/<model>.yaml`` in the ROS 2 parameters-file format::

    /**:
      ros__parameters:
        model: hitnet
        weights: eth3d_converted.onnx   # a file name: joined to weights_dir by the launch files
        backend: auto                   # auto = chosen from the weights file's extension
        ...

``/**`` applies the profile to whichever node loads it (``stereo_depth``,
``stereo_depth_lifecycle``, any namespace). The launch files call :func:`plan_launch`,
which finds and checks the profile, resolves the weights path and the backend
(:func:`depth_ros.core.backends.resolve_backend`), and returns
what the ``Node`` action needs; ``depth-ros bag run --model`` uses the same functions.
Profiles are looked up in the installed share directory (``share/depth_ros/config``, via
ament_index when it is importable) and then in the source tree's ``config/``.

No ROS import here: ``ament_index_python`` is imported lazily and is optional.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from depth_ros.core.catalogue import node_info
from depth_ros.core.errors import ConfigError
from depth_ros.core.models import InputKind, get_model
from depth_ros.core.params import ParamSpec, Value, problems

PACKAGE = "depth_ros"
REPO_ROOT = Path(__file__).resolve().parents[2]
WILDCARD = "/**"


# ---------------------------------------------------------------- finding files


def _share_dir() -> Path | None:
    try:
        from ament_index_python.packages import (  # type: ignore[import-not-found,unused-ignore]
            PackageNotFoundError,
            get_package_share_directory,
        )
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(PACKAGE))
    except (PackageNotFoundError, LookupError, ValueError, OSError):
        return None


def data_dirs(kind: str) -> list[Path]:
    """Existing ``<share>/<kind>`` and ``<repo>/<kind>`` folders (``config`` or ``rviz``)."""
    dirs = []
    share = _share_dir()
    if share is not None:
        dirs.append(share / kind)
    dirs.append(REPO_ROOT / kind)
    return [d for d in dirs if d.is_dir()]


def config_dirs() -> list[Path]:
    """The folders holding model profiles (``config/``, installed share first)."""
    return data_dirs("config")


def profile_names(dirs: Sequence[Path] | None = None) -> list[str]:
    """Model IDs that have a profile (``config/<model>.yaml``)."""
    names: set[str] = set()
    for d in config_dirs() if dirs is None else dirs:
        names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def find_profile(model: str, dirs: Sequence[Path] | None = None) -> Path:
    """The profile file of ``model``; ConfigError listing the known profiles if none."""
    search = config_dirs() if dirs is None else list(dirs)
    for d in search:
        path = d / f"{model}.yaml"
        if path.is_file():
            return path
    where = ", ".join(str(d) for d in search) or "(no config folder found)"
    raise ConfigError(
        f"no profile for model {model!r} (looked for {model}.yaml in {where}); profiles: "
        f"{', '.join(profile_names(search)) or '(none)'}"
    )


# ---------------------------------------------------------------- parameters files


def _flatten(prefix: str, values: Mapping[str, object], out: dict[str, Value], path: Path) -> None:
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(f"{name}.", value, out, path)
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            raise ConfigError(
                f"{path}: parameter {name!r} has a {type(value).__name__} value; this package's "
                "parameters are bool, int, float or string"
            )


def _matches(section: str, node_name: str | None) -> bool:
    if section in (WILDCARD, "/**/"):
        return True
    if node_name is None:
        return True
    base = section.rstrip("/").rsplit("/", 1)[-1]
    return base == node_name or base == "*"


def read_params_file(path: Path | str, node_name: str | None = None) -> dict[str, Value]:
    """Parameters of a ROS 2 params file (``<node>: ros__parameters: {...}``), merged over
    the sections that apply to ``node_name`` (``/**`` always; every section if None)."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read parameters file {p}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"parameters file {p} is not valid YAML: {exc}") from None
    if not isinstance(data, Mapping) or not data:
        raise ConfigError(
            f"parameters file {p} must map node names to 'ros__parameters:' sections, e.g. "
            "'/**: {ros__parameters: {model: sgbm}}'"
        )
    out: dict[str, Value] = {}
    for section, body in data.items():
        params = body.get("ros__parameters") if isinstance(body, Mapping) else None
        if not isinstance(params, Mapping):
            raise ConfigError(
                f"parameters file {p}: section {section!r} has no 'ros__parameters:' mapping"
            )
        if _matches(str(section), node_name):
            _flatten("", params, out, p)
    return out


@dataclass(frozen=True)
class Profile:
    """A model profile: the model, its file and its node parameters."""

    model: str
    path: Path
    params: dict[str, Value]


def load_profile(model: str, dirs: Sequence[Path] | None = None) -> Profile:
    """Find and read ``<model>.yaml``; its ``model`` entry must name that model."""
    path = find_profile(model, dirs)
    params = read_params_file(path)
    named = params.get("model", model)
    if named != model:
        raise ConfigError(f"profile {path} is for model {named!r}, not {model!r}")
    return Profile(model, path, params)


# ---------------------------------------------------------------- schema checks


class NodeSchema(Protocol):
    """A schema function of depth_ros.core.schema as :func:`node_params` calls it: with
    the model's parameters (none for a node without a model), and for the monocular nodes
    the scale source's."""

    def __call__(
        self,
        model_params: tuple[ParamSpec, ...] = ...,
        scale_params: tuple[ParamSpec, ...] = ...,
        /,
    ) -> dict[str, ParamSpec]:
        """The node's parameters with these model (and scale source) parameters."""
        ...


def schema_function(node: str) -> NodeSchema | None:
    """The schema function of ``node`` in depth_ros.core.schema, None if not there yet."""
    schema = importlib.import_module("depth_ros.core.schema")
    fn = getattr(schema, node_info(node).schema, None)
    return fn if callable(fn) else None


def node_params(
    node: str, model: str, values: Mapping[str, object] | None = None
) -> dict[str, ParamSpec] | None:
    """Parameters that ``node`` declares when it runs ``model`` (None: schema unknown).
    For mono and fused nodes, ``values["scale_source"]`` adds that source's ``scale.*``."""
    fn = schema_function(node)
    if fn is None:
        return None
    if node_info(node).input_kind is None:  # no model (register_depth)
        return fn()
    source = str((values or {}).get("scale_source", "none"))
    if node != "stereo_depth" and source != "none":
        scale = importlib.import_module("depth_ros.core.scale")
        return fn(get_model(model).params, tuple(scale.scale_source_params(source)))
    return fn(get_model(model).params)


def check_params(node: str, model: str, values: Mapping[str, object], source: str) -> None:
    """ConfigError naming every parameter of ``values`` (from ``source``) that ``node``
    does not declare for ``model`` or whose value it would reject. ``use_sim_time`` is
    declared by every node. Does nothing when the node's schema is not known."""
    specs = node_params(node, model, values)
    if specs is None:
        return
    found = problems(specs, values, ignore=("use_sim_time",))
    if found:
        raise ConfigError(
            f"{source}: {'; '.join(found)} (parameters of {node} with model {model!r}; "
            f"see `ros2 param describe` or depth_ros.core.schema)"
        )


def node_for_model(model: str) -> str:
    """The node that runs ``model`` on its own: stereo_depth or mono_depth."""
    kind = get_model(model).input_kind
    return "stereo_depth" if kind is InputKind.STEREO else "mono_depth"


def check_model_for_node(node: str, model: str) -> None:
    """ConfigError unless ``node`` runs models of ``model``'s kind."""
    info = node_info(node)
    if info.input_kind is None:
        raise ConfigError(f"{node} runs no model (got model {model!r})")
    spec = get_model(model)
    if spec.input_kind is not info.input_kind:
        raise ConfigError(
            f"model {model!r} is a {spec.input_kind.value} model; {node} runs "
            f"{info.input_kind.value} models (use {node_for_model(model)}.launch.py)"
        )


# ---------------------------------------------------------------- weights


def resolve_weights_path(
    model: str, profile_weights: str = "", weights: str = "", weights_dir: str = ""
) -> str:
    """The weights path given to the node: a file name joined to a folder, nothing read.

    ``weights`` (explicit) wins; otherwise the profile's entry, or the model's official
    file name when ``weights_dir`` is given. A relative name is joined to ``weights_dir``.
    Empty means the node's default (a download cache for models that download). The
    backend for it: :func:`depth_ros.core.backends.resolve_backend`."""
    if weights:
        chosen = weights
    else:
        chosen = profile_weights or (get_model(model).weights_file or "" if weights_dir else "")
    if chosen and weights_dir and not Path(chosen).expanduser().is_absolute():
        return str(Path(weights_dir).expanduser() / chosen)
    return chosen
