"""ONNX export of the trained network, checked against torch with onnxruntime."""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper

from training.model import HealthCodeNet, SoftmaxScores, fold_normalisation, input_normalisation
from training.preprocessing import INPUT_SHAPE

INPUT_NAME, OUTPUT_NAME = "PIXELS", "SCORES"
# add_mirror's inner tensors that tests read: the first look's scores, and the gate.
FIRST_LOOK_NAME, GATE_NAME = "first_look", "mirror_gate"
OPSET = 17


def export_onnx(net: HealthCodeNet, path: Path, temperature: float, gate: float) -> None:
    """Write uint8 pixels [N, *INPUT_SHAPE] -> float32 scores [N, 4] to `path`, atomically: the
    network's one-look probabilities, then `add_mirror` (model.SoftmaxScores in ONNX)."""
    one_look = torch.nn.Sequential(fold_normalisation(net), torch.nn.Softmax(dim=1)).eval()
    save_checked(add_mirror(to_onnx(one_look), temperature, gate), path)


def to_onnx(scorer: torch.nn.Module) -> onnx.ModelProto:
    """The ONNX graph of a module from uint8 pixels [N, *INPUT_SHAPE] to scores [N, classes]."""
    example = torch.zeros(2, *INPUT_SHAPE, dtype=torch.uint8)
    # The torch.export-based exporter needs onnxscript, which this project does not install; the
    # TorchScript one works but warns that it is deprecated (and pytest turns warnings into errors).
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as folder:
        warnings.simplefilter("ignore", DeprecationWarning)
        path = Path(folder) / "graph.onnx"  # the exporter writes to a path
        torch.onnx.export(
            scorer,
            (example,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
        )
        return onnx.load(str(path))


def save_checked(model: onnx.ModelProto, path: Path) -> None:
    """Write `model` to `path` once onnx's full check passes, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    onnx.save(model, str(tmp))
    onnx.checker.check_model(str(tmp), full_check=True)
    os.replace(tmp, path)  # Triton polls the repository: never let it see a half-written file


# Operations that keep a feature map's columns where they are, one column at a time (a reversed
# map stays the reversed map), and those that pool over the columns (their order stops mattering).
_COLUMNWISE = {"Relu", "Clip", "Sigmoid", "Add", "Mul", "Div", "Sub", "BatchNormalization"}
_POOLS = {"ReduceMean", "ReduceMax", "GlobalAveragePool", "GlobalMaxPool"}


def add_mirror(graph: onnx.ModelProto, temperature: float, gate: float) -> onnx.ModelProto:
    """`graph` (PIXELS -> one look's SCORES) made to answer softmax(log SCORES / temperature) for
    a page whose first look that gives is at least `gate` sure, and for the others
    softmax(mean(log SCORES of the page and of its mirror) / temperature).

    For one-look scores softmax(logits / t) that is model.SoftmaxScores(net, t * temperature,
    gate) (the softmax's normalising terms cancel), so the same function serves a freshly trained
    network (t = 1) and one exported before mirror averaging (training/mirror.py).

    Nothing is mirrored at run time: reversing a uint8 page in onnxruntime (Slice with a negative
    step) cost 0.7 ms an image, as much as the network. The mirror's look is a second copy of the
    network that reads the page as it is, with every kernel reversed left to right and each
    convolution's padding set to sample the columns the mirror's would: each of its feature maps
    is the mirrored page's with the columns reversed, until a pooling over the columns, after
    which their order no longer matters. The same numbers for exactly twice the network. The copy
    runs in an If branch on the unsure pages only (Compress, then ScatterND into the first look's
    scores): a batch the first look is sure of costs one look.
    """
    model = onnx.shape_inference.infer_shapes(graph)
    g = model.graph
    page_scores = "scores_of_page"
    for node in g.node:
        node.output[:] = [page_scores if name == OUTPUT_NAME else name for name in node.output]
    widths = {
        v.name: v.type.tensor_type.shape.dim[3].dim_value
        for v in [*g.value_info, *g.input]
        if len(v.type.tensor_type.shape.dim) == 4
    }
    weights = {init.name: init for init in g.initializer}
    first = next(i for i, node in enumerate(g.node) if node.op_type == "Conv")
    # The twin reads the unsure pages' input to the first convolution.
    renamed: dict[str, str] = {g.node[first].input[0]: "unsure_pages"}
    reversed_maps: set[str] = set()  # the mirror's feature maps, whose columns run right to left
    mirror_nodes, mirror_weights = [], []
    for node in g.node[first:]:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = f"{node.name}_mirror" if node.name else ""
        copy.input[:] = [renamed.get(name, name) for name in node.input]
        copy.output[:] = [renamed.setdefault(name, f"{name}_mirror") for name in node.output]
        reads_reversed = any(name in reversed_maps for name in copy.input)
        if node.op_type == "Conv":
            kernel = numpy_helper.to_array(weights[node.input[1]])
            mirror_weights.append(
                numpy_helper.from_array(
                    np.ascontiguousarray(kernel[..., ::-1]), f"{node.input[1]}_mirror"
                )
            )
            copy.input[1] = mirror_weights[-1].name
            _mirror_padding(copy, widths[node.input[0]], kernel.shape[3])
            reversed_maps.add(copy.output[0])
        elif reads_reversed and node.op_type == "Concat":
            if helper.get_attribute_value(node.attribute[0]) in (3, -1):
                raise ValueError("a concatenation along the columns has no mirror here")
            reversed_maps.update(copy.output)
        elif reads_reversed and node.op_type in _COLUMNWISE:
            reversed_maps.update(copy.output)
        elif reads_reversed and (node.op_type not in _POOLS or not _pools_columns(node)):
            raise ValueError(f"{node.op_type} on a feature map has no mirror here")
        mirror_nodes.append(copy)
    mirror_scores = renamed[page_scores]
    copies: dict[str, onnx.TensorProto] = {}  # of the other weights the twin reads (biases)
    for node in mirror_nodes:
        for i, name in enumerate(node.input):
            if name in weights:
                if name not in copies:
                    copies[name] = onnx.TensorProto()
                    copies[name].CopyFrom(weights[name])
                    copies[name].name = f"{name}_mirror"
                node.input[i] = copies[name].name
    mirror_weights.extend(copies.values())
    first_look = [
        helper.make_node("Max", [page_scores, "mirror_floor"], ["page_floored"]),
        helper.make_node("Log", ["page_floored"], ["page_log"]),  # log(0) = -inf: floored
        helper.make_node("Mul", ["page_log", "first_scale"], ["first_scaled"]),
        helper.make_node("Softmax", ["first_scaled"], [FIRST_LOOK_NAME], axis=1),
        helper.make_node("ReduceMax", [FIRST_LOOK_NAME], ["first_sure"], axes=[1], keepdims=0),
        helper.make_node("Less", ["first_sure", GATE_NAME], ["unsure"]),
        helper.make_node("Cast", ["unsure"], ["unsure_flags"], to=onnx.TensorProto.INT64),
        helper.make_node("ReduceSum", ["unsure_flags"], ["unsure_count"], keepdims=0),
        helper.make_node("Greater", ["unsure_count", "no_pages"], ["any_unsure"]),
    ]
    both_looks = helper.make_graph(
        [
            helper.make_node("Compress", [g.node[first].input[0], "unsure"], ["unsure_pages"],
                             axis=0),
            *mirror_nodes,
            helper.make_node("Compress", ["page_log", "unsure"], ["unsure_log"], axis=0),
            helper.make_node("Max", [mirror_scores, "mirror_floor"], ["mirror_floored"]),
            helper.make_node("Log", ["mirror_floored"], ["mirror_log"]),
            helper.make_node("Add", ["unsure_log", "mirror_log"], ["log_scores_summed"]),
            helper.make_node("Mul", ["log_scores_summed", "mirror_scale"], ["mean_log_scaled"]),
            helper.make_node("Softmax", ["mean_log_scaled"], ["unsure_scores"], axis=1),
            helper.make_node("NonZero", ["unsure"], ["unsure_rows"]),
            helper.make_node("Transpose", ["unsure_rows"], ["unsure_indices"], perm=[1, 0]),
            helper.make_node("ScatterND", [FIRST_LOOK_NAME, "unsure_indices", "unsure_scores"],
                             ["both_looks_scores"]),
        ],
        "both_looks",
        [],
        [helper.make_tensor_value_info("both_looks_scores", onnx.TensorProto.FLOAT, None)],
        # The twin's weights in its own branch: read from the outer graph, onnxruntime left the
        # branch's convolutions unoptimised (unsure pages 2.55 ms an image at batch 16, not 1.37).
        mirror_weights,
    )  # fmt: skip
    first_only = helper.make_graph(
        [helper.make_node("Identity", [FIRST_LOOK_NAME], ["first_look_scores"])],
        "first_look_only",
        [],
        [helper.make_tensor_value_info("first_look_scores", onnx.TensorProto.FLOAT, None)],
    )
    g.node.extend([
        *first_look,
        helper.make_node("If", ["any_unsure"], [OUTPUT_NAME], then_branch=both_looks,
                         else_branch=first_only),
    ])  # fmt: skip
    g.initializer.extend([
        numpy_helper.from_array(np.array(1e-30, np.float32), "mirror_floor"),
        numpy_helper.from_array(np.array(1 / temperature, np.float32), "first_scale"),
        numpy_helper.from_array(np.array(0.5 / temperature, np.float32), "mirror_scale"),
        numpy_helper.from_array(np.array(gate, np.float32), GATE_NAME),
        numpy_helper.from_array(np.array(0, np.int64), "no_pages"),
    ])  # fmt: skip
    del g.value_info[:]  # inferred above; the checker infers them again
    return model


def _pools_columns(pool: onnx.NodeProto) -> bool:
    if pool.op_type.startswith("Global"):
        return True
    axes = next((helper.get_attribute_value(a) for a in pool.attribute if a.name == "axes"), [])
    return 3 in axes or -1 in axes


def _mirror_padding(conv: onnx.NodeProto, width: int, kernel: int) -> None:
    """Set `conv`'s left and right padding so that, on a map with its columns reversed, output
    column j' reads the columns that output column (last - j') of the original reads, reversed.

    With input width W, stride s, padding l (left) and r, the output has w = (W + l + r - k) // s
    + 1 columns; the reversed map needs left padding (w - 1) * s + k - W - l and right padding l.
    Stride 1 with symmetric padding keeps its padding; stride 2 on an even width moves one column
    of padding from left to right.
    """
    attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    stride = attrs.get("strides", [1, 1])[1]
    if attrs.get("dilations", [1, 1])[1] != 1 or attrs.get("auto_pad", b"NOTSET") != b"NOTSET":
        raise ValueError("a dilated or auto-padded convolution has no mirror here")
    out = (width + left + right - kernel) // stride + 1
    new_left = (out - 1) * stride + kernel - width - left
    if new_left < 0:
        raise ValueError(f"no padding mirrors this convolution: {attrs}")
    for a in conv.attribute:
        if a.name == "pads":
            a.ints[:] = [top, new_left, bottom, left]
            return
    conv.attribute.append(helper.make_attribute("pads", [top, new_left, bottom, left]))


def session(path: Path, threads: int = 0) -> ort.InferenceSession:
    """Open `path` with onnxruntime on the CPU (`threads` 0: onnxruntime's default)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def verify_onnx(
    path: Path, net: HealthCodeNet, pixels: np.ndarray, temperature: float, gate: float
) -> float:
    """Check the ONNX model against torch on batches of 1 and 7; return the largest difference."""
    sess, scorer = session(path), SoftmaxScores(net, temperature, gate).eval()
    worst = 0.0
    for batch in (pixels[:1], pixels[1:8]):
        (scores,) = sess.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(batch)})
        with torch.no_grad():
            expected = scorer(torch.from_numpy(np.array(batch))).numpy()
        if scores.shape != (len(batch), 4) or scores.dtype != np.float32:
            raise RuntimeError(f"ONNX output {scores.dtype}{scores.shape}, expected float32[N,4]")
        worst = max(worst, float(np.abs(scores - expected).max()))
    if worst > 1e-4:
        raise RuntimeError(f"ONNX and torch disagree by {worst:.2e}")
    return worst


def classifier_configs(model: Path) -> list[Path]:
    """The config files of the classifier whose version folder holds `model`."""
    return [model.parent.parent / name for name in ("config.pbtxt", "configs/gpu.pbtxt")]


def write_rule(config: Path, values: dict[str, float]) -> None:
    """Set decision-rule parameters (gateway.classification's *_PARAMETER names) in a classifier
    config.pbtxt."""
    text = config.read_text()
    for key, value in values.items():
        parameter = re.compile(r'(key: "' + key + r'" value: \{ string_value: ")[^"]*(")')
        text, found = parameter.subn(rf"\g<1>{value:g}\g<2>", text)
        if found != 1:
            raise ValueError(f"{config} has no single {key} parameter to set")
    tmp = config.with_name(f".{config.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, config)  # Triton polls the repository: never let it see a half-written file


def scores_of(path: Path, pixels: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The exported graph's SCORES for a uint8 [N, *INPUT_SHAPE] array, batch by batch."""
    sess = session(path)
    return np.concatenate([
        sess.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(pixels[i : i + batch_size])})[0]
        for i in range(0, len(pixels), batch_size)
    ])  # fmt: skip


def _can_be_identity(conv: torch.nn.Conv2d) -> bool:
    """Whether `conv` can compute the identity: stride 1, as many channels out as in, and
    depthwise or 1 x 1."""
    return (
        conv.stride == (1, 1)
        and conv.in_channels == conv.out_channels
        and (conv.groups == conv.in_channels or conv.kernel_size == (1, 1))
    )


def _as_shift(norm: torch.nn.BatchNorm2d, bias: torch.Tensor) -> None:
    """Make an inference-mode batch norm add `bias` and nothing else."""
    norm.running_mean.zero_()
    norm.running_var.fill_(1 - norm.eps)
    norm.weight.fill_(1)
    norm.bias.copy_(bias)


def load_weights(net: HealthCodeNet, path: Path) -> HealthCodeNet:
    """Put the weights of an exported graph's first look (a one-look or an add_mirror graph of
    this architecture) into `net`, which then computes that look's logits; return `net`.

    The exporter folded each batch norm into its convolution and the input normalisation into the
    stem, so each batch norm becomes a shift (mean 0, variance 1 - eps, scale 1) and the stem's
    weights are unfolded again (model.fold_normalisation backwards). A network loaded so must be
    trained with its batch norms frozen (`fit(..., freeze_norms=True)`): batch statistics would
    replace the folded ones.

    A network deeper than the graph (stride-1 blocks appended after the graph's, their input and
    output channels alike) starts as the graph's function: each added convolution is an identity
    (a centred one-hot depthwise kernel, an identity pointwise matrix), exact after the ReLUs that
    precede it, whose outputs are never negative.
    """
    graph = onnx.load(str(path)).graph
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    # The outer graph's nodes are the first look (add_mirror's twin lives in its If branch).
    convs = [node for node in graph.node if node.op_type == "Conv"]
    head = next(node for node in graph.node if node.op_type == "Gemm")
    layers = [(m[0], m[1]) for m in net.features if isinstance(m, torch.nn.Sequential)]
    added = layers[len(convs) :]
    if len(convs) > len(layers) or not all(_can_be_identity(conv) for conv, _ in added):
        raise ValueError(
            f"{path}'s {len(convs)} convolutions do not start the network's {len(layers)}"
        )
    scale, shift = input_normalisation(net)  # what fold_normalisation folded into the stem
    with torch.no_grad():
        for i, (node, (conv, norm)) in enumerate(zip(convs, layers[: len(convs)], strict=True)):
            kernel, bias = weights[node.input[1]], weights[node.input[2]]
            if i == 0:  # the stem read raw 0..255 values; the network normalises them first
                kernel = kernel / scale
                bias = bias - (kernel * shift).sum(dim=(1, 2, 3))
            conv.weight.copy_(kernel)
            _as_shift(norm, bias)
        for conv, norm in added:
            channels, centre = list(range(conv.out_channels)), conv.kernel_size[0] // 2
            conv.weight.zero_()  # (out, in / groups, k, k): a depthwise kernel has one input
            conv.weight[channels, 0 if conv.groups > 1 else channels, centre, centre] = 1
            _as_shift(norm, torch.zeros_like(norm.bias))
        net.head.weight.copy_(weights[head.input[1]])  # Gemm with transB, as nn.Linear exports
        net.head.bias.copy_(weights[head.input[2]])
    return net
