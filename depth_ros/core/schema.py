"""The parameters of each node, each defined once.

Every node declares :data:`NODE_PARAMS` (QoS, laziness, diagnostics, synchronisation),
the nodes that subscribe to images :data:`IMAGE_NODE_PARAMS` (with ``image_transport``);
each node's function adds its own groups. Nodes declare exactly ``node_params(node,
model_id)``; the launch files, the config profiles and the documentation are checked
against the same function in the tests.
"""

from __future__ import annotations

from dataclasses import replace

from depth_ros.core.backends import AUTO, BACKEND_NAMES
from depth_ros.core.params import ParamSpec, merge
from depth_ros.core.region import VALID_ROI_FORMAT, VALID_ROI_PATTERN
from depth_ros.core.stereo import POINT_FORMATS
from depth_ros.core.temporal import TEMPORAL_PARAMS

QOS_CHOICES = ("sensor_data", "reliable")

MODEL_PARAMS = (
    ParamSpec("model", "sgbm", "Model ID (see `depth-ros predict --list`)", read_only=True),
    ParamSpec("weights", "", "Weights file; empty = the model's default file name", read_only=True),
    ParamSpec(
        "backend",
        AUTO,
        "Inference backend; auto = chosen from the weights file",
        choices=(AUTO, *BACKEND_NAMES),
        read_only=True,
    ),
    ParamSpec("device", "cpu", "Device: cpu, cuda or cuda:N", read_only=True),
)
#: the same with a monocular default model (mono_depth, fused_depth)
MONO_MODEL_PARAMS = (replace(MODEL_PARAMS[0], default="depth_anything_v2_vits"), *MODEL_PARAMS[1:])

QOS_PARAMS = (
    ParamSpec(
        "input_qos",
        "sensor_data",
        "QoS of the input subscriptions: sensor_data (best effort, depth 5) or reliable",
        choices=QOS_CHOICES,
        read_only=True,
    ),
    ParamSpec(
        "output_qos",
        "reliable",
        "QoS of the publishers: reliable (matches every subscriber) or sensor_data",
        choices=QOS_CHOICES,
        read_only=True,
    ),
    ParamSpec("queue_size", 5, "Depth of the input queues", 1, 100, read_only=True),
    ParamSpec(
        "lazy",
        True,
        "Subscribe to the inputs only while an output has a subscriber (as image_pipeline)",
        read_only=True,
    ),
    ParamSpec(
        "diagnostics_period",
        1.0,
        "Seconds between /diagnostics messages",
        0.1,
        60.0,
        read_only=True,
    ),
    ParamSpec(
        "max_image_pixels",
        50_000_000,
        "Largest input image (width x height) accepted; a compressed image's size is read "
        "from its header and a larger one is refused before it is decoded",
        1,
        2**31 - 1,
    ),
)

POINTS_DECIMATION = ParamSpec(
    "points_decimation", 1, "Keep every n-th row and column in the point cloud", 1, 16
)

OUTPUT_PARAMS = (
    ParamSpec(
        "points",
        "xyzrgb",
        "Point cloud fields: none (no cloud), xyz, or xyzrgb",
        choices=POINT_FORMATS,
    ),
    POINTS_DECIMATION,
    ParamSpec("min_depth", 0.0, "Depths below this are invalid (NaN), metres", 0.0, 1000.0),
    ParamSpec(
        "max_depth",
        0.0,
        "Depths beyond this are invalid (NaN), metres; 0 = no limit",
        0.0,
        10000.0,
    ),
)

SYNC_PARAMS = (
    ParamSpec(
        "approximate_sync",
        False,
        "Pair the synchronised inputs (see the node's topics) by nearest stamp, within "
        "approximate_sync_tolerance_seconds, instead of equal stamps",
        read_only=True,
    ),
    ParamSpec(
        "approximate_sync_tolerance_seconds",
        0.01,
        "Largest stamp difference paired by approximate sync, seconds",
        0.0,
        1.0,
    ),
)

IMAGE_TRANSPORT = ParamSpec(
    "image_transport",
    "raw",
    "Subscribe to the raw images (`image`, `left/image_rect`, ...) or to their "
    "`<topic>/compressed` (jpeg/png CompressedImage, as image_transport publishes them)",
    choices=("raw", "compressed"),
    read_only=True,
)

#: declared by every node
NODE_PARAMS = (*QOS_PARAMS, *SYNC_PARAMS)
#: declared by every node that subscribes to images (stereo_depth, mono_depth, fused_depth)
IMAGE_NODE_PARAMS = (*NODE_PARAMS, IMAGE_TRANSPORT)

STEREO_PARAMS = (
    ParamSpec(
        "rectify",
        False,
        "Inputs are raw: undistort and rectify them with camera_info D, K, R, P first",
    ),
)


#: declared by stereo_depth, mono_depth and fused_depth (see depth_ros.core.region)
VALID_ROI = ParamSpec(
    "valid_roi",
    AUTO,
    "Where depth may be given: auto = camera_info's ROI when it marks a region of the full "
    "image (a filled rectification border), none = the whole image, or x,y,width,height "
    "pixels; outside it: NaN depth and disparity, no points",
    pattern=VALID_ROI_PATTERN,
    pattern_help=VALID_ROI_FORMAT,
)


def stereo_node_params(model_params: tuple[ParamSpec, ...] = ()) -> dict[str, ParamSpec]:
    """All parameters of ``stereo_depth`` for a model whose own parameters are given."""
    return merge(
        MODEL_PARAMS, IMAGE_NODE_PARAMS, OUTPUT_PARAMS, STEREO_PARAMS, (VALID_ROI,), model_params
    )


#: the parameters of one rigid transform: ``<prefix>_<field>``
TRANSFORM_FIELDS = ("x", "y", "z", "qx", "qy", "qz", "qw")


def transform_params(prefix: str, translation: str, rotation: str) -> tuple[ParamSpec, ...]:
    """``<prefix>_{x,y,z}`` (m) and ``<prefix>_{qx,qy,qz,qw}`` (default: identity), with
    ``translation`` and ``rotation`` naming the transform in their descriptions."""
    return (
        *(
            ParamSpec(f"{prefix}_{c}", 0.0, f"{translation} translation {c}, m", -1e3, 1e3)
            for c in "xyz"
        ),
        *(
            ParamSpec(
                f"{prefix}_q{c}",
                1.0 if c == "w" else 0.0,
                f"{rotation} rotation quaternion {c}",
                -1,
                1,
            )
            for c in "xyzw"
        ),
    )


REFERENCE_PARAMS = (
    ParamSpec(
        "use_tf",
        False,
        "Look up reference → camera transforms with tf2 (needs tf2_ros); otherwise the "
        "reference_to_camera_* parameters give it",
        read_only=True,
    ),
    ParamSpec(
        "base_frame",
        "",
        "With use_tf and scale_source ground_plane: a frame with z up and the floor at z = 0 "
        "(e.g. base_footprint); camera height and gravity then come from TF",
        read_only=True,
    ),
    *transform_params("reference_to_camera", "Reference → camera", "Reference → camera"),
)

SCALE_PREFIX = "scale."


def scale_choice(names: tuple[str, ...]) -> ParamSpec:
    """The ``scale_source`` parameter offering ``names`` (and ``none``)."""
    return ParamSpec(
        "scale_source",
        "none",
        "Metric scale for relative models: none (publish depth/relative only), " + ", ".join(names),
        choices=("none", *names),
        read_only=True,
    )


def mono_node_params(
    model_params: tuple[ParamSpec, ...] = (),
    scale_params: tuple[ParamSpec, ...] = (),
    scale_names: tuple[str, ...] | None = None,
) -> dict[str, ParamSpec]:
    """All parameters of ``mono_depth``: its own, the model's, and the scale source's
    (prefixed ``scale.``)."""
    from depth_ros.core.scale import scale_source_names

    names = tuple(scale_source_names()) if scale_names is None else scale_names
    prefixed = tuple(replace(s, name=SCALE_PREFIX + s.name) for s in scale_params)
    return merge(
        MONO_MODEL_PARAMS,
        IMAGE_NODE_PARAMS,
        (VALID_ROI,),
        OUTPUT_PARAMS,
        TEMPORAL_PARAMS,
        REFERENCE_PARAMS,
        (scale_choice(names),),
        model_params,
        prefixed,
    )


FUSED_PARAMS = (
    ParamSpec(
        "max_disagreement",
        0.0,
        "Replace stereo depths that differ from the aligned monocular depth by more than "
        "this fraction (confidence 3); 0 = keep every stereo depth",
        0.0,
        10.0,
    ),
)


def fused_node_params(
    model_params: tuple[ParamSpec, ...] = (),
    scale_params: tuple[ParamSpec, ...] | None = None,
) -> dict[str, ParamSpec]:
    """All parameters of ``fused_depth``: its own, the monocular model's, and those of the
    ``stereo`` scale source that aligns the monocular prediction to the stereo depth
    (prefixed ``scale.``; ``scale_params`` None = that source's)."""
    from depth_ros.core.scale import scale_source_params

    scale = scale_source_params("stereo") if scale_params is None else scale_params
    prefixed = tuple(replace(s, name=SCALE_PREFIX + s.name) for s in scale)
    return merge(
        MONO_MODEL_PARAMS,
        IMAGE_NODE_PARAMS,
        OUTPUT_PARAMS,
        FUSED_PARAMS,
        (VALID_ROI,),
        model_params,
        prefixed,
    )


REGISTER_PARAMS = (
    ParamSpec(
        "fill_upsampling_holes",
        False,
        "Write each depth pixel to the whole rectangle its corners span in the target "
        "(depth_image_proc's option, for a target of higher resolution)",
    ),
    ParamSpec(
        "use_rgb_timestamp",
        False,
        "Stamp the outputs with the rgb camera_info's stamp instead of the depth image's",
    ),
    ParamSpec(
        "points",
        "xyzrgb",
        "depth_registered/points: none, xyz, or xyzrgb (coloured from rgb/image_rect_color, "
        "which then joins the synchronised inputs)",
        choices=POINT_FORMATS,
        read_only=True,
    ),
    POINTS_DECIMATION,
    ParamSpec(
        "use_tf",
        True,
        "Look up the depth → rgb transform with tf2 at the depth stamp when tf2_ros is "
        "importable; otherwise (or when a frame_id is empty or both are equal) the "
        "depth_to_rgb_* parameters give it",
        read_only=True,
    ),
    *transform_params("depth_to_rgb", "Depth → rgb optical frame", "Depth → rgb"),
)


def register_node_params() -> dict[str, ParamSpec]:
    """All parameters of ``register_depth`` (no model: registration is geometry only).
    ``depth_to_rgb_*`` maps points of the depth optical frame into the rgb optical frame
    (TF: the transform of the depth frame in the rgb frame)."""
    return merge(NODE_PARAMS, REGISTER_PARAMS)
