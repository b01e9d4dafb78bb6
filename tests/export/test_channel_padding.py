"""Channel padding of thin convolutions: exact on ONNX Runtime, and only where it is safe."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from corrwise.export.channel_padding import pad_thin_convolutions, padded_channels
from onnx import TensorProto, helper, numpy_helper


def conv(name, x, y, weight, bias=None, group=1):
    """A 3x3 'same' Conv node plus its initializers."""
    inits = [numpy_helper.from_array(weight, f"{name}.w")]
    inputs = [x, f"{name}.w"]
    if bias is not None:
        inits.append(numpy_helper.from_array(bias, f"{name}.b"))
        inputs.append(f"{name}.b")
    node = helper.make_node("Conv", inputs, [y], name=name, pads=[1, 1, 1, 1], group=group)
    return node, inits


def graph(c_in, opset=17, share_weight=False):
    """x (N, c_in, H, W) -> thin conv -> LeakyReLU -> conv to 3 -> grouped conv -> y (N, 3, H, W)."""
    rng = np.random.default_rng(0)
    w = lambda *shape: rng.normal(0, 0.3, shape).astype(np.float32)  # noqa: E731
    a, a_inits = conv("a", "x", "a_out", w(5, c_in, 3, 3), w(5))
    b, b_inits = conv("b", "a_relu", "b_out", w(3, 5, 3, 3))
    g, g_inits = conv("g", "b_out", "y", w(3, 1, 3, 3), w(3), group=3)
    nodes = [a, helper.make_node("LeakyRelu", ["a_out"], ["a_relu"], alpha=0.1, name="relu"), b, g]
    if share_weight:  # a second consumer of b's weight
        nodes.append(helper.make_node("Identity", ["b.w"], ["b_w_copy"], name="copy"))
    shape = lambda c: ["N", c, "H", "W"]  # noqa: E731
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape(3))]
    if share_weight:
        outputs.append(helper.make_tensor_value_info("b_w_copy", TensorProto.FLOAT, [3, 5, 3, 3]))
    g_proto = helper.make_graph(
        nodes,
        "thin",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape(c_in))],
        outputs,
        a_inits + b_inits + g_inits,
    )
    return helper.make_model(g_proto, opset_imports=[helper.make_opsetid("", opset)])


def run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def weight_shapes(model):
    return {i.name: tuple(i.dims) for i in model.graph.initializer if i.name.endswith((".w", ".b"))}


@pytest.mark.parametrize("c_in", [1, 3, 6, 8, 9])
def test_padding_is_exact_at_any_size(c_in):
    original = graph(c_in)
    padded = graph(c_in)
    names = pad_thin_convolutions(padded)
    onnx.checker.check_model(padded)
    assert names == ["a", "b"]  # the grouped convolution is left alone
    shapes = weight_shapes(padded)
    assert shapes["a.w"] == (16, padded_channels(5, c_in)[1], 3, 3) and shapes["a.b"] == (16,)
    assert shapes["b.w"] == (16, 8, 3, 3) and shapes["g.w"] == (3, 1, 3, 3)
    rng = np.random.default_rng(1)
    for hw in [(7, 11), (32, 48)]:
        x = rng.uniform(-1, 1, (2, c_in, *hw)).astype(np.float32)
        np.testing.assert_allclose(run(padded, x), run(original, x), rtol=0, atol=1e-5)


def test_padded_channel_counts():
    assert padded_channels(3, 6) == (16, 8)
    assert padded_channels(32, 16) == (32, 16)  # already fine: unchanged
    assert padded_channels(8, 9) == (16, 16)


def test_shared_weights_and_old_opsets_are_left_alone():
    shared = graph(6, share_weight=True)
    assert pad_thin_convolutions(shared) == ["a"]  # b's weight has a second consumer
    old = graph(6, opset=10)
    before = old.SerializeToString()
    assert pad_thin_convolutions(old) == [] and old.SerializeToString() == before
