#!/usr/bin/env python3
"""Writes anh-runtime's test fixtures: small ONNX models and their expected outputs.

Run it with the venv of scripts/setup-python.sh (onnx 1.23, numpy, onnxruntime 1.31.1):

    "$(scripts/setup-python.sh)" runtime/testdata/gen_fixtures.py

Every model is built with onnx.helper from fixed seeds, so the files are the same on every
run. For each good model `NAME.onnx` the script writes `NAME.json`:

    {"model": "NAME.onnx",
     "cases": [{"inputs":  [{"name", "dtype", "shape", "data"}, ...],
                "outputs": [{"name", "dtype", "shape", "data"}, ...]}, ...]}

with `data` flattened row-major; the outputs come from Python onnxruntime 1.31.1 (CPU, one
intra-op thread, all graph optimisations), the same engine and settings as anh-runtime.

The malicious models (external data, custom domains, local functions, overflowing shapes,
unsupported dtypes, a subgraph-nesting bomb, a non-ONNX file) exercise the refusals of
`anh_runtime::analyze`; they get no JSON.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = [helper.make_opsetid("", 17)]
IR_VERSION = 8

DTYPE_NAMES = {
    np.dtype("float32"): "float32",
    np.dtype("float64"): "float64",
    np.dtype("int32"): "int32",
    np.dtype("int64"): "int64",
    np.dtype("uint8"): "uint8",
    np.dtype("int8"): "int8",
    np.dtype("bool"): "bool",
}


def model(graph: onnx.GraphProto, opset=None, **kwargs) -> onnx.ModelProto:
    m = helper.make_model(
        graph,
        opset_imports=opset or OPSET,
        producer_name="anh-gen-fixtures",
        producer_version="1",
        **kwargs,
    )
    m.ir_version = IR_VERSION
    return m


def save(m: onnx.ModelProto, name: str, check: bool = True) -> str:
    if check:
        onnx.checker.check_model(m, full_check=True)
    path = os.path.join(HERE, name)
    data = m.SerializeToString(deterministic=True)
    with open(path, "wb") as f:
        f.write(data)
    print(f"wrote {name} ({len(data)} bytes)", file=sys.stderr)
    return path


def tensor_json(name: str, arr: np.ndarray) -> dict:
    flat = arr.reshape(-1)
    if arr.dtype == np.bool_:
        data = [bool(v) for v in flat]
    elif arr.dtype.kind == "f":
        # float() of a float32 is exact, and repr() of a Python float round-trips.
        data = [float(v) for v in flat]
    else:
        data = [int(v) for v in flat]
    return {
        "name": name,
        "dtype": DTYPE_NAMES[arr.dtype],
        "shape": list(arr.shape),
        "data": data,
    }


def expected(name: str, path: str, cases: list[dict[str, np.ndarray]]) -> None:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    out_names = [o.name for o in sess.get_outputs()]
    doc = {"model": os.path.basename(path), "cases": []}
    for feeds in cases:
        outs = sess.run(out_names, feeds)
        doc["cases"].append(
            {
                "inputs": [tensor_json(k, v) for k, v in feeds.items()],
                "outputs": [tensor_json(k, v) for k, v in zip(out_names, outs)],
            }
        )
    with open(os.path.join(HERE, f"{name}.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def init(name: str, arr: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(arr, name)


def mlp(name: str, sizes: list[int], seed: int, cases_batches: list[int]) -> None:
    """Gemm + Relu layers, last layer without Relu; input [batch, sizes[0]]."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    prev = "x"
    for i, (k, n) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
        b = (rng.standard_normal(n) * 0.1).astype(np.float32)
        inits += [init(f"w{i}", w), init(f"b{i}", b)]
        last = i == len(sizes) - 2
        out = "y" if last else f"h{i}"
        gemm_out = out if last else f"g{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [gemm_out], name=f"gemm{i}"))
        if not last:
            nodes.append(helper.make_node("Relu", [gemm_out], [out], name=f"relu{i}"))
        prev = out
    g = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", sizes[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", sizes[-1]])],
        inits,
    )
    path = save(model(g), f"{name}.onnx")
    data_rng = np.random.default_rng(seed + 1000)
    expected(
        name,
        path,
        [{"x": data_rng.standard_normal((b, sizes[0])).astype(np.float32)} for b in cases_batches],
    )


def cnn() -> None:
    """x [batch,1,8,8] -> Conv(4 filters 3x3, pad 1) -> Relu -> MaxPool 2x2/2 -> Flatten -> Gemm(64->10)."""
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((4, 1, 3, 3)) / 3).astype(np.float32)
    b = (rng.standard_normal(4) * 0.1).astype(np.float32)
    fw = (rng.standard_normal((10, 64)) / 8).astype(np.float32)  # used with transB=1
    fb = (rng.standard_normal(10) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "conv_w", "conv_b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", transB=1),
    ]
    g = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        [init("conv_w", w), init("conv_b", b), init("fc_w", fw), init("fc_b", fb)],
    )
    path = save(model(g), "cnn.onnx")
    data_rng = np.random.default_rng(1007)
    expected("cnn", path, [{"x": data_rng.standard_normal((b, 1, 8, 8)).astype(np.float32)} for b in (1, 3)])


def int64_model() -> None:
    """ids [batch,5] int64 -> Gather(table [10,3]) -> ReduceSum(axis 1) -> Add(bias) -> y [batch,3] int64."""
    rng = np.random.default_rng(11)
    table = rng.integers(-1000, 1000, size=(10, 3), dtype=np.int64)
    bias = np.array([1, -2, 3], dtype=np.int64)
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["emb"], name="gather", axis=0),
        helper.make_node("ReduceSum", ["emb", "axes"], ["s"], name="sum", keepdims=0),
        helper.make_node("Add", ["s", "bias"], ["y"], name="add"),
    ]
    g = helper.make_graph(
        nodes,
        "int64",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 5])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, ["batch", 3])],
        [init("table", table), init("axes", np.array([1], dtype=np.int64)), init("bias", bias)],
    )
    path = save(model(g), "int64.onnx")
    data_rng = np.random.default_rng(1011)
    expected("int64", path, [{"ids": data_rng.integers(0, 10, size=(b, 5), dtype=np.int64)} for b in (1, 4)])


def multi_io() -> None:
    """a [batch,3] float32, b [batch,3] int32 -> sum = a + float(b) (float32), argmax(sum, axis 1) (int64)."""
    nodes = [
        helper.make_node("Cast", ["b"], ["bf"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Add", ["a", "bf"], ["sum"], name="add"),
        helper.make_node("ArgMax", ["sum"], ["argmax"], name="argmax", axis=1, keepdims=0),
    ]
    g = helper.make_graph(
        nodes,
        "multi_io",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("b", TensorProto.INT32, ["batch", 3]),
        ],
        [
            helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("argmax", TensorProto.INT64, ["batch"]),
        ],
    )
    path = save(model(g), "multi_io.onnx")
    rng = np.random.default_rng(13)
    cases = [
        {
            "a": rng.standard_normal((n, 3)).astype(np.float32),
            "b": rng.integers(-3, 4, size=(n, 3), dtype=np.int32),
        }
        for n in (1, 2)
    ]
    expected("multi_io", path, cases)


def dtypes() -> None:
    """One input and one output for each element type ANH supports (ElemType)."""
    spec = [
        ("f32", TensorProto.FLOAT, np.float32, "Neg"),
        ("f64", TensorProto.DOUBLE, np.float64, "Neg"),
        ("i32", TensorProto.INT32, np.int32, "Neg"),
        ("i64", TensorProto.INT64, np.int64, "Neg"),
        ("u8", TensorProto.UINT8, np.uint8, "Identity"),
        ("i8", TensorProto.INT8, np.int8, "Neg"),
        ("b", TensorProto.BOOL, np.bool_, "Not"),
    ]
    nodes = [helper.make_node(op, [f"{n}_in"], [f"{n}_out"], name=f"{op.lower()}_{n}") for n, _, _, op in spec]
    g = helper.make_graph(
        nodes,
        "dtypes",
        [helper.make_tensor_value_info(f"{n}_in", t, [2, "n"]) for n, t, _, _ in spec],
        [helper.make_tensor_value_info(f"{n}_out", t, [2, "n"]) for n, t, _, _ in spec],
    )
    path = save(model(g), "dtypes.onnx")
    rng = np.random.default_rng(17)
    feeds = {}
    for n, _, np_t, _ in spec:
        if np_t == np.bool_:
            v = rng.integers(0, 2, size=(2, 3)).astype(np.bool_)
        elif np.issubdtype(np_t, np.floating):
            v = rng.standard_normal((2, 3)).astype(np_t)
        elif np_t == np.uint8:
            v = rng.integers(0, 256, size=(2, 3)).astype(np_t)
        else:
            v = rng.integers(-100, 100, size=(2, 3)).astype(np_t)
        feeds[f"{n}_in"] = v
    expected("dtypes", path, [feeds])


# ---------------------------------------------------------------------------------------
# Malicious or unsupported models: analysis must refuse each with its own error.


def tiny_relu_graph(name: str, inits=(), nodes=None, inputs=None, outputs=None) -> onnx.GraphProto:
    return helper.make_graph(
        nodes or [helper.make_node("Relu", ["x"], ["y"])],
        name,
        inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        list(inits),
    )


def external(t: onnx.TensorProto) -> onnx.TensorProto:
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "weights.bin"), ("offset", "0"), ("length", "64")):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def malicious() -> None:
    # An initializer whose bytes live in another file.
    w = external(init("w", np.ones((4, 4), dtype=np.float32)))
    g = tiny_relu_graph(
        "external_data",
        inits=[w],
        nodes=[helper.make_node("MatMul", ["x", "w"], ["y"])],
    )
    save(model(g), "external_data.onnx", check=False)

    # A Constant node whose value tensor lives in another file.
    c = external(helper.make_tensor("c_value", TensorProto.FLOAT, [1, 4], [1.0] * 4))
    g = tiny_relu_graph(
        "external_constant",
        nodes=[
            helper.make_node("Constant", [], ["c"], value=c),
            helper.make_node("Add", ["x", "c"], ["y"]),
        ],
    )
    save(model(g), "external_data_constant.onnx", check=False)

    # An If whose then-branch holds an external initializer.
    then_g = helper.make_graph(
        [helper.make_node("Identity", ["sub_w"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 4])],
        [external(init("sub_w", np.ones((1, 4), dtype=np.float32)))],
    )
    else_g = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["e"])],
        "else",
        [],
        [helper.make_tensor_value_info("e", TensorProto.FLOAT, [1, 4])],
    )
    g = helper.make_graph(
        [helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)],
        "external_subgraph",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    save(model(g), "external_data_subgraph.onnx", check=False)

    # A node of a non-standard domain.
    g = tiny_relu_graph(
        "custom_domain",
        inits=[init("w", np.ones((4, 4), dtype=np.float32))],
        nodes=[helper.make_node("FusedMatMul", ["x", "w"], ["y"], domain="com.microsoft", name="fused")],
    )
    save(model(g, opset=OPSET + [helper.make_opsetid("com.microsoft", 1)]), "custom_domain.onnx", check=False)

    # A model-local function.
    fn = helper.make_function(
        "local.fn",
        "MyRelu",
        ["a"],
        ["b"],
        [helper.make_node("Relu", ["a"], ["b"])],
        OPSET,
    )
    g = tiny_relu_graph("local_function", nodes=[helper.make_node("MyRelu", ["x"], ["y"], domain="local.fn")])
    save(
        model(g, opset=OPSET + [helper.make_opsetid("local.fn", 1)], functions=[fn]),
        "local_function.onnx",
        check=False,
    )

    # An input whose element count overflows u64: 2^32 * 2^32 * 16 = 2^68.
    g = tiny_relu_graph(
        "overflow_shape",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [1 << 32, 1 << 32, 16])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [1 << 32, 1 << 32, 16])],
    )
    save(model(g), "overflow_shape.onnx", check=False)

    # An input of a type ANH does not pass to models.
    g = tiny_relu_graph(
        "float16_input",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 4])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, 4])],
    )
    save(model(g), "float16_input.onnx", check=False)

    # Not a protobuf at all.
    with open(os.path.join(HERE, "not_onnx.bin"), "wb") as f:
        f.write(b"This is not an ONNX model: \x00\xff\xfe\x07garbage\n")
    print("wrote not_onnx.bin", file=sys.stderr)

    # Subgraphs nested 1000 deep (If -> then_branch -> If -> ...), written as raw protobuf
    # because Python's protobuf refuses to build it. Without a depth limit a recursive
    # decoder would overflow its stack.
    nested = b""
    for _ in range(1000):
        attr = field_bytes(1, b"then_branch") + field_varint(20, 5) + field_bytes(6, nested)
        node = field_bytes(4, b"If") + field_bytes(5, attr)
        nested = field_bytes(1, node)  # GraphProto.node
    bomb = (
        field_varint(1, IR_VERSION)
        + field_bytes(8, field_bytes(1, b"") + field_varint(2, 17))
        + field_bytes(7, nested)
    )
    with open(os.path.join(HERE, "nested_bomb.onnx"), "wb") as f:
        f.write(bomb)
    print(f"wrote nested_bomb.onnx ({len(bomb)} bytes)", file=sys.stderr)


def varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(number: int, v: int) -> bytes:
    return varint(number << 3) + varint(v)


def field_bytes(number: int, payload: bytes) -> bytes:
    return varint((number << 3) | 2) + varint(len(payload)) + payload


def main() -> None:
    assert ort.__version__ == "1.31.1", f"expected onnxruntime 1.31.1, got {ort.__version__}"
    mlp("mlp", [4, 16, 3], seed=1, cases_batches=[1, 3])
    mlp("mlp_784_256_10", [784, 256, 10], seed=2, cases_batches=[1])
    cnn()
    int64_model()
    multi_io()
    dtypes()
    malicious()


if __name__ == "__main__":
    main()
