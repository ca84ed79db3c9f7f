"""infer_request.encode: the bytes parse as the ModelInferRequest protobuf would have written."""

from __future__ import annotations

import numpy as np
import pytest
from tritonclient.grpc import service_pb2

from gateway.infer_request import Input, encode


def expected(model: str, request_id: str, *inputs: tuple[str, str, list[int], bytes]):
    request = service_pb2.ModelInferRequest(model_name=model, id=request_id)
    for name, datatype, shape, raw in inputs:
        request.inputs.add(name=name, datatype=datatype, shape=shape)
        request.raw_input_contents.append(raw)
    return request


@pytest.mark.parametrize("size", [0, 1, 127, 128, 300, 16_383, 16_384, 273_000, 2_097_152])
def test_an_image_of_any_size_is_one_bytes_element_of_raw_input_contents(size: int) -> None:
    image = bytes(i % 251 for i in range(size))
    sent = service_pb2.ModelInferRequest.FromString(
        encode("health_code", [Input.image("IMAGE", image)], "req-1")
    )
    raw = size.to_bytes(4, "little") + image  # Triton's BYTES element: length, then the bytes
    assert sent == expected("health_code", "req-1", ("IMAGE", "BYTES", [1, 1], raw))


def test_an_array_is_sent_in_c_order_whatever_its_memory_layout() -> None:
    pixels = np.arange(2 * 3 * 4 * 5, dtype=np.uint8).reshape(2, 3, 4, 5)
    turned = np.transpose(pixels, (0, 1, 3, 2))  # not C-contiguous
    sent = service_pb2.ModelInferRequest.FromString(
        encode("classifier", [Input.array("PIXELS", turned)])
    )
    raw = np.ascontiguousarray(turned).tobytes()
    assert sent == expected("classifier", "", ("PIXELS", "UINT8", [2, 3, 5, 4], raw))


def test_several_inputs_keep_their_order() -> None:
    scores = np.array([[0.5, 0.25]], dtype=np.float32)
    inputs = [Input.image("IMAGE", b"\xff\xd8jpeg"), Input.array("PRIOR", scores)]
    sent = service_pb2.ModelInferRequest.FromString(encode("m", inputs, "x"))
    assert sent == expected(
        "m",
        "x",
        ("IMAGE", "BYTES", [1, 1], b"\x06\x00\x00\x00\xff\xd8jpeg"),
        ("PRIOR", "FP32", [1, 2], scores.tobytes()),
    )
