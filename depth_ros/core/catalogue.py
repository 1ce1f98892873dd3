"""The node catalogue: each depth node's topics, parameters schema and companions, declared
once.

The nodes create their publishers and subscriptions from it (``depth_ros.nodes.topics``),
the launch files take their remapping arguments and companion nodes from it
(``depth_ros.launch_plan``), ``bag run`` its inputs and outputs, the README's node table is
rendered from it (:func:`markdown_table`, checked in test/core/test_catalogue.py) and
test/nodes/test_catalogue.py checks what running nodes advertise against it. Pure data:
message types are named (``sensor_msgs/msg/Image``), not imported.

A topic may depend on the configuration: its ``when`` names *flags* (all must hold) that
the node computes from its parameters and model (e.g. ``metric``: the node publishes
metres), each documented in :attr:`NodeInfo.flags`. An image input with ``transport``
becomes ``<name>/compressed`` (CompressedImage) with ``image_transport:=compressed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from depth_ros.core.errors import ConfigError
from depth_ros.core.models.base import InputKind

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
POINT_CLOUD2 = "sensor_msgs/msg/PointCloud2"
DISPARITY_IMAGE = "stereo_msgs/msg/DisparityImage"
DIAGNOSTIC_STATUS = "diagnostic_msgs/msg/DiagnosticStatus"

COMPRESSED = "compressed"  # the flag of image_transport:=compressed
COMPRESSED_SUFFIX = "/compressed"


@dataclass(frozen=True)
class Topic:
    """One input or output topic of a node, relative to its namespace (remappable)."""

    name: str
    type: str  # ROS message type, e.g. "sensor_msgs/msg/Image"
    key: str  # the node's handle for it (its publishers dict key)
    doc: str = ""  # what it carries, for the README and ``depth-ros params --topics``
    when: tuple[str, ...] = ()  # flags that must all hold for the node to have it
    transport: bool = False  # an image input that image_transport:=compressed replaces
    synced: bool = True  # inputs: synchronised by stamp (False: the newest is kept)
    on_demand: bool = False  # outputs: computed only while someone subscribes
    recorded: bool = True  # outputs: written by ``bag run`` (False: a view for people)

    def active(self, flags: Iterable[str]) -> bool:
        """Whether the node has this topic when ``flags`` hold."""
        return set(self.when) <= set(flags)

    def resolved(self, flags: Iterable[str]) -> tuple[str, str]:
        """(name, type) with ``flags``: the compressed variant of a transport image."""
        if self.transport and COMPRESSED in set(flags):
            return self.name + COMPRESSED_SUFFIX, COMPRESSED_IMAGE
        return self.name, self.type


@dataclass(frozen=True)
class Companion:
    """Another node a node's launch file starts beside it: its outputs move under
    ``namespace``/ (so that they do not collide with the node's own), and the node's
    inputs named in ``feeds`` read from the given topics unless remapped otherwise."""

    node: str
    namespace: str
    model_argument: str  # launch argument selecting the companion's model
    feeds: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeInfo:
    """A depth node: its executable name, the kind of model it runs, where its parameter
    schema is, and its topics."""

    name: str  # executable and default node name
    input_kind: InputKind | None  # the kind of model selected by ``model`` (None: no model)
    schema: str  # name of the function in depth_ros.core.schema giving its parameters
    default_model: str
    subscribes: tuple[Topic, ...]
    publishes: tuple[Topic, ...]
    flags: Mapping[str, str] = field(default_factory=dict)  # flag → when it holds
    companions: tuple[Companion, ...] = ()
    note: str = ""  # a last sentence of the README's publishes cell

    @property
    def model_kind(self) -> InputKind:
        """The kind of model the node runs (ConfigError for a node without a model)."""
        if self.input_kind is None:
            raise ConfigError(f"{self.name} runs no model")
        return self.input_kind

    @property
    def inputs(self) -> tuple[str, ...]:
        """The synchronised inputs every configuration has (launch remapping arguments,
        what a bag played through the node must hold)."""
        return tuple(t.name for t in self.subscribes if t.synced and not t.when)

    @property
    def outputs(self) -> tuple[str, ...]:
        """Every output topic, whatever the configuration."""
        return tuple(t.name for t in self.publishes)

    @property
    def on_demand(self) -> tuple[str, ...]:
        """Outputs computed only while subscribed."""
        return tuple(t.name for t in self.publishes if t.on_demand)

    @property
    def not_recorded(self) -> tuple[str, ...]:
        """Outputs ``bag run`` leaves out: views for people, computed only while subscribed
        (recording them would cost every frame)."""
        return tuple(t.name for t in self.publishes if not t.recorded)

    def active_inputs(self, flags: Iterable[str]) -> tuple[Topic, ...]:
        """The topics the node subscribes to when ``flags`` hold (ConfigError for an unknown
        flag)."""
        held = set(flags)
        self.check_flags(held)
        return tuple(t for t in self.subscribes if t.active(held))

    def active_outputs(self, flags: Iterable[str]) -> tuple[Topic, ...]:
        """The topics the node publishes when ``flags`` hold (ConfigError for an unknown flag)."""
        held = set(flags)
        self.check_flags(held)
        return tuple(t for t in self.publishes if t.active(held))

    def check_flags(self, flags: Iterable[str]) -> None:
        """ConfigError for a flag this node does not document (a typo in a node)."""
        unknown = sorted(set(flags) - set(self.flags) - {COMPRESSED})
        if unknown:
            raise ConfigError(f"{self.name} has no topic flag {', '.join(unknown)}")

    def output(self, key: str) -> Topic:
        """The published topic ``key``; ConfigError if the node has none."""
        for t in self.publishes:
            if t.key == key:
                return t
        raise ConfigError(f"{self.name} has no output {key!r}")


def _stereo_depth() -> NodeInfo:
    return NodeInfo(
        name="stereo_depth",
        input_kind=InputKind.STEREO,
        schema="stereo_node_params",
        default_model="sgbm",
        subscribes=(
            Topic("left/image_rect", IMAGE, "left", transport=True),
            Topic("left/camera_info", CAMERA_INFO, "left_info"),
            Topic("right/image_rect", IMAGE, "right", transport=True),
            Topic("right/camera_info", CAMERA_INFO, "right_info"),
        ),
        publishes=(
            Topic("disparity", DISPARITY_IMAGE, "disparity", "DisparityImage"),
            Topic(
                "disparity/confidence",
                IMAGE,
                "confidence",
                "32FC1, 0 to 1, classical matchers",
                on_demand=True,
                recorded=False,
            ),
            Topic("depth", IMAGE, "depth", "32FC1 m"),
            Topic("depth/camera_info", CAMERA_INFO, "depth_info"),
            Topic("points", POINT_CLOUD2, "points", "PointCloud2 xyz/xyzrgb", on_demand=True),
            Topic("depth/color", IMAGE, "color", "rgb8 turbo", on_demand=True, recorded=False),
        ),
    )


def _mono_depth() -> NodeInfo:
    return NodeInfo(
        name="mono_depth",
        input_kind=InputKind.MONO,
        schema="mono_node_params",
        default_model="depth_anything_v2_vits",
        subscribes=(
            Topic("image", IMAGE, "image", transport=True),
            Topic("camera_info", CAMERA_INFO, "camera_info"),
            Topic(
                "reference/depth",
                IMAGE,
                "reference/depth",
                "16UC1 mm / 32FC1 m",
                when=("sparse_depth",),
                synced=False,
            ),
            Topic(
                "reference/camera_info",
                CAMERA_INFO,
                "reference/camera_info",
                "of reference/depth when not aligned with the image",
                when=("sparse_depth",),
                synced=False,
            ),
            Topic(
                "reference/points",
                POINT_CLOUD2,
                "reference/points",
                "float32 x, y, z",
                when=("sparse_depth",),
                synced=False,
            ),
            Topic(
                "reference/disparity",
                DISPARITY_IMAGE,
                "reference/disparity",
                when=("stereo",),
                synced=False,
            ),
        ),
        publishes=(
            Topic(
                "depth/relative",
                IMAGE,
                "relative",
                "32FC1, inverse relative depth, larger = nearer, no unit",
                when=("relative",),
            ),
            Topic("depth", IMAGE, "depth", "32FC1 m", when=("metric",)),
            Topic("depth/camera_info", CAMERA_INFO, "depth_info", when=("metric",)),
            Topic(
                "points",
                POINT_CLOUD2,
                "points",
                "PointCloud2 xyz/xyzrgb",
                when=("metric",),
                on_demand=True,
            ),
            Topic("depth/confidence", IMAGE, "confidence", "32FC1, 0 to 1", when=("confidence",)),
            Topic(
                "normals",
                IMAGE,
                "normals",
                "32FC3 unit vectors in the camera frame",
                when=("normals",),
                on_demand=True,
            ),
            Topic("scale/fit", DIAGNOSTIC_STATUS, "fit", "DiagnosticStatus", when=("scale",)),
            Topic("depth/color", IMAGE, "color", "rgb8 turbo", on_demand=True, recorded=False),
        ),
        flags={
            "relative": "with a relative model or a scale source",
            "metric": "with a metric model or a scale source",
            "confidence": "with a metric model that gives it",
            "normals": "with a metric model that gives them",
            "scale": "with a scale source",
            "sparse_depth": "with `scale_source:=sparse_depth`",
            "stereo": "with `scale_source:=stereo`",
        },
    )


def _fused_depth() -> NodeInfo:
    return NodeInfo(
        name="fused_depth",
        input_kind=InputKind.MONO,
        schema="fused_node_params",
        default_model="depth_anything_v2_vits",
        subscribes=(
            Topic("image", IMAGE, "image", "the left rectified image", transport=True),
            Topic("camera_info", CAMERA_INFO, "camera_info"),
            Topic("disparity", DISPARITY_IMAGE, "disparity", "from `stereo_depth`"),
        ),
        publishes=(
            Topic("depth", IMAGE, "depth", "32FC1 m"),
            Topic("depth/camera_info", CAMERA_INFO, "depth_info"),
            Topic("points", POINT_CLOUD2, "points", "PointCloud2 xyz/xyzrgb", on_demand=True),
            Topic(
                "depth/confidence",
                IMAGE,
                "confidence",
                "mono8: 0 none, 1 stereo, 2 filled by mono, 3 stereo replaced by mono",
            ),
            Topic("scale/fit", DIAGNOSTIC_STATUS, "fit", "DiagnosticStatus"),
            Topic("depth/color", IMAGE, "color", "rgb8 turbo", on_demand=True, recorded=False),
        ),
        # fused_depth.launch.py also starts stereo_depth, its outputs under stereo/; the
        # fused node reads the left image and that disparity unless remapped otherwise
        companions=(
            Companion(
                "stereo_depth",
                "stereo",
                "stereo_model",
                {
                    "image": "left/image_rect",
                    "camera_info": "left/camera_info",
                    "disparity": "stereo/disparity",
                },
            ),
        ),
    )


def _register_depth() -> NodeInfo:
    return NodeInfo(
        name="register_depth",
        input_kind=None,
        schema="register_node_params",
        default_model="",
        subscribes=(
            Topic("depth/image_rect", IMAGE, "depth", "32FC1 m / 16UC1 mm"),
            Topic("depth/camera_info", CAMERA_INFO, "depth_info"),
            Topic("rgb/camera_info", CAMERA_INFO, "rgb_info"),
            Topic("rgb/image_rect_color", IMAGE, "rgb", when=("xyzrgb",)),
        ),
        publishes=(
            Topic(
                "depth_registered/image_rect",
                IMAGE,
                "depth",
                "32FC1, z-buffered: the nearest surface wins, as depth_image_proc's register",
            ),
            Topic("depth_registered/camera_info", CAMERA_INFO, "info", "the target's"),
            Topic(
                "depth_registered/points",
                POINT_CLOUD2,
                "points",
                "xyz/xyzrgb, colours from the colour image",
                on_demand=True,
            ),
        ),
        flags={"xyzrgb": "for `points:=xyzrgb`, the default"},
        note="extrinsics from TF, or `depth_to_rgb_{x,y,z,qx,qy,qz,qw}`",
    )


NODES: dict[str, NodeInfo] = {
    info.name: info for info in (_stereo_depth(), _mono_depth(), _fused_depth(), _register_depth())
}


def node_info(node: str) -> NodeInfo:
    """The catalogue entry of ``node``; ConfigError naming the known nodes."""
    try:
        return NODES[node]
    except KeyError:
        raise ConfigError(
            f"unknown node {node!r}; expected one of {', '.join(sorted(NODES))}"
        ) from None


def all_topic_names() -> set[str]:
    """Every relative topic name of every node (compressed variants included)."""
    names: set[str] = set()
    for info in NODES.values():
        for t in (*info.subscribes, *info.publishes):
            names.add(t.name)
            if t.transport:
                names.add(t.name + COMPRESSED_SUFFIX)
        for c in info.companions:
            names.update(f"{c.namespace}/{n}" for n in NODES[c.node].outputs)
    return names


# ---------------------------------------------------------------- documentation


def _cell(info: NodeInfo, topics: tuple[Topic, ...]) -> str:
    parts = []
    for t in topics:
        notes = [info.flags[f] for f in t.when]
        if t.transport:
            notes.append(f"or `{t.name}{COMPRESSED_SUFFIX}` with `image_transport:={COMPRESSED}`")
        if t.on_demand:
            notes.append("only while subscribed")
        text = "; ".join(x for x in (t.doc, ", ".join(notes)) if x)
        parts.append(f"`{t.name}` ({text})" if text else f"`{t.name}`")
    return ", ".join(parts)


def markdown_table() -> str:
    """The README's node table (``### Nodes and topics``), rendered from the catalogue."""
    lines = ["| node | subscribes | publishes |", "|---|---|---|"]
    for info in NODES.values():
        publishes = _cell(info, info.publishes) + (f"; {info.note}" if info.note else "")
        lines.append(f"| `{info.name}` | {_cell(info, info.subscribes)} | {publishes} |")
    return "\n".join(lines) + "\n"
