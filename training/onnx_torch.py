"""Shipped ONNX models as torch modules, for fine-tuning (training/ocr_detector.py,
training/ocr_recognizer.py): onnx2torch's conversion, with what it cannot convert as it stands
rewritten first."""

from __future__ import annotations

import sys
import types
import warnings
from pathlib import Path

import numpy as np


def onnx_tensors(model) -> dict[str, np.ndarray]:
    """An ONNX model's weights by name: its initializers and its Constant nodes' values."""
    from onnx import numpy_helper

    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            tensors[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return tensors


def _explicit_pads(model) -> None:
    """SAME_UPPER padding (which onnx2torch cannot convert) as explicit pads, where the stride is
    1 and they do not depend on the input's size: k - 1 in all, the odd one at the end."""
    import onnx

    for node in model.graph.node:
        attributes = {a.name: a for a in node.attribute}
        pad = attributes.get("auto_pad")
        if pad is None or pad.s != b"SAME_UPPER":
            continue
        kernel = list(attributes["kernel_shape"].ints)
        if any(s != 1 for s in attributes["strides"].ints):
            raise NotImplementedError(f"{node.name}: SAME_UPPER with a stride over 1")
        node.attribute.remove(pad)
        begin = [(k - 1) // 2 for k in kernel]
        end = [k - 1 - b for k, b in zip(kernel, begin, strict=True)]
        node.attribute.append(onnx.helper.make_attribute("pads", begin + end))


def load_onnx(path: Path):
    """A shipped PP-OCR ONNX model as a torch module (weights stored as Constant nodes become
    parameters)."""
    import onnx

    # onnx2torch imports torchvision for NMS and RoIAlign converters that a text detector never
    # needs; the CPU build of torch here has no matching torchvision.
    if "torchvision" not in sys.modules:
        ops = types.ModuleType("torchvision.ops")
        ops.nms = ops.batched_nms = ops.roi_align = None  # type: ignore[attr-defined]
        vision = types.ModuleType("torchvision")
        vision.ops = ops  # type: ignore[attr-defined]
        sys.modules.update({"torchvision": vision, "torchvision.ops": ops})
    from onnx2torch import convert

    # onnx2torch 1.5.15's Slice (in the recogniser) indexes with a list, which torch 2.13 reads as
    # it always did but warns about at every call.
    warnings.filterwarnings("ignore", "Using a non-tuple sequence", UserWarning, "onnx2torch")

    model = onnx.load(str(path))
    _explicit_pads(model)
    kept = []
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            tensor = onnx.TensorProto()
            tensor.CopyFrom(node.attribute[0].t)
            tensor.name = node.output[0]
            model.graph.initializer.append(tensor)
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return convert(model)
