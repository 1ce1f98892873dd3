"""Lazy registries: importing a registry's package imports none of its entry modules (nor
torch); the first lookup imports them, once, then the plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from depth_ros.core.errors import ConfigError
from depth_ros.core.registry import Registry

REPO = Path(__file__).resolve().parents[2]

_PROBE = textwrap.dedent(
    """
    import json, sys

    def loaded(prefix):
        return sorted(m for m in sys.modules if m.startswith(prefix))

    import depth_ros.core.models as models
    import depth_ros.core.scale as scale
    import depth_ros.core.eval.datasets as datasets
    import depth_ros.core.backends as backends

    out = {"after_import": loaded("depth_ros.core."), "torch_at_import": "torch" in sys.modules}
    models.get_model("sgbm")
    out["after_model"] = loaded("depth_ros.core.models.")
    scale.get_scale_source("fixed")
    datasets.dataset_kinds()
    backends.resolve_backend(None, "m.onnx")
    out["after_all"] = loaded("depth_ros.core.")
    out["torch_after"] = "torch" in sys.modules
    out["onnxruntime_after"] = "onnxruntime" in sys.modules
    out["plugin_imports"] = sys.modules["_depth_ros_test_plugin"].IMPORTS
    out["plugin_model"] = models.get_model("_plugin_model").description
    print(json.dumps(out))
    """
)

_PLUGIN = textwrap.dedent(
    """
    IMPORTS = 1
    from depth_ros.core.models import ModelSpec, register_model, InputKind, OutputKind
    register_model(ModelSpec("_plugin_model", "test", InputKind.STEREO, OutputKind.DISPARITY,
                             "from a plugin", build=lambda config: None))
    """
)


def test_importing_registries_loads_nothing_until_a_lookup(tmp_path: Path) -> None:
    (tmp_path / "_depth_ros_test_plugin.py").write_text(_PLUGIN)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(tmp_path)])
    env["DEPTH_ROS_PLUGINS"] = "_depth_ros_test_plugin"
    run = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    # importing the four registry packages imports no entry module and no torch
    assert not out["torch_at_import"]
    entry_modules = [
        m
        for m in out["after_import"]
        if m.startswith(
            (
                "depth_ros.core.models.",
                "depth_ros.core.scale.",
                "depth_ros.core.eval.datasets.",
                "depth_ros.core.backends.",
            )
        )
        and not m.endswith(".base")
    ]
    assert entry_modules == []
    # a model lookup imports every model module (and the plugin), still without torch
    from depth_ros.core.models import MODEL_MODULES

    assert {f"depth_ros.core.models.{m}" for m in MODEL_MODULES} <= set(out["after_model"])
    assert "depth_ros.core.scale.fixed" not in out["after_model"]
    from depth_ros.core.scale import SCALE_MODULES

    assert {f"depth_ros.core.scale.{m}" for m in SCALE_MODULES} <= set(out["after_all"])
    assert "depth_ros.core.eval.datasets.kitti" in out["after_all"]
    assert "depth_ros.core.backends.torch_backend" in out["after_all"]
    assert not out["torch_after"]
    assert not out["onnxruntime_after"]
    # the plugin, imported by whichever registry looked first, once
    assert out["plugin_imports"] == 1
    assert out["plugin_model"] == "from a plugin"


@pytest.fixture
def widgets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A package ``_widgets_<n>`` whose modules ``a`` and ``b`` register into the
    registry the test passes them through ``_widgets_home``; each counts its imports."""
    name = f"_widgets_{abs(hash(tmp_path)) % 10**8}"
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (tmp_path / f"{name}_home.py").write_text("REGISTRY = None\nIMPORTS = []\n")
    for mod, value in (("a", 1), ("b", 2)):
        (pkg / f"{mod}.py").write_text(
            f"import {name}_home as home\n"
            f"home.IMPORTS.append({mod!r})\n"
            f"home.REGISTRY.register({mod!r}, {value})\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for m in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[m]


def test_lazy_registry_imports_its_modules_once_on_first_lookup(widgets: str) -> None:
    import importlib

    home = importlib.import_module(f"{widgets}_home")
    reg: Registry[int] = Registry("widget", widgets, ("a", "b"), plugins=False)
    home.__dict__["REGISTRY"] = reg  # the package's registry (read by its modules)
    reg.register("z", 26)  # registering does not load
    assert home.IMPORTS == []
    assert f"{widgets}.a" not in sys.modules
    assert reg.get("a") == 1
    assert home.IMPORTS == ["a", "b"]
    assert reg.names() == ["a", "b", "z"]
    assert "b" in reg
    assert len(reg) == 3
    assert list(reg) == ["a", "b", "z"]
    with pytest.raises(ConfigError, match=r"unknown widget 'c'; known: a, b, z"):
        reg.get("c")
    assert home.IMPORTS == ["a", "b"]  # every lookup after the first: no import


def test_lazy_registry_missing_module_is_an_error(widgets: str) -> None:
    reg: Registry[int] = Registry("widget", widgets, ("nope",), plugins=False)
    with pytest.raises(ModuleNotFoundError, match="nope"):
        reg.get("a")
    with pytest.raises(ValueError, match="needs their package"):
        Registry[int]("widget", None, ("a",))
