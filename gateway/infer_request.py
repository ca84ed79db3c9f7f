"""A ModelInfer request as the bytes gRPC sends, with each input's contents copied once.

tritonclient's InferInput and protobuf's encoder copy an input on its way to gRPC four or five
times (a numpy array, serialize_byte_tensor's join, `tobytes`, the message's field, the encoded
message): ~0.1 CPU-ms a call with the seed's 273 KB image, a tenth of the gateway's own CPU when
Triton decodes (benchmarks/NOTES.md, 2026-12-06, 18:00). Protobuf's wire format allows a message
in pieces: an encoded message followed by more encoded fields parses as one message with those
fields too (a repeated field's elements appended in order). So protobuf encodes the request's
small fields, and each input's contents follow as one `raw_input_contents` element, joined once.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from tritonclient.grpc import service_pb2
from tritonclient.utils import np_to_triton_dtype

_LENGTH_DELIMITED = 2  # protobuf's wire type of bytes fields
_RAW_INPUT_CONTENTS = service_pb2.ModelInferRequest.DESCRIPTOR.fields_by_name["raw_input_contents"]
_RAW_INPUT_TAG = bytes([_RAW_INPUT_CONTENTS.number << 3 | _LENGTH_DELIMITED])  # field 7: 1 byte


@dataclass(frozen=True, slots=True)
class Input:
    """One input tensor: its name, Triton data type, shape and raw contents (in pieces)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    contents: tuple[bytes | memoryview, ...]

    @classmethod
    def image(cls, name: str, image: bytes) -> Input:
        """A BYTES [1, 1] tensor of one encoded image: Triton's 4-byte length, then the bytes."""
        return cls(name, "BYTES", (1, 1), (struct.pack("<I", len(image)), image))

    @classmethod
    def array(cls, name: str, array: NDArray[np.generic]) -> Input:
        """A numeric tensor, its bytes in C order (a view where the array is contiguous)."""
        data = np.ascontiguousarray(array).data.cast("B")
        return cls(name, np_to_triton_dtype(array.dtype), tuple(array.shape), (data,))


def encode(model: str, inputs: Sequence[Input], request_id: str = "") -> bytes:
    """The serialised ModelInferRequest of `inputs` to `model` (its latest version)."""
    request = service_pb2.ModelInferRequest(model_name=model, id=request_id)
    for tensor in inputs:
        request.inputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
    pieces: list[bytes | memoryview] = [request.SerializeToString()]
    for tensor in inputs:
        size = sum(len(piece) for piece in tensor.contents)  # memoryviews cast to bytes
        pieces += [_RAW_INPUT_TAG, _varint(size), *tensor.contents]
    return b"".join(pieces)


def _varint(value: int) -> bytes:
    """Protobuf's base-128 varint: 7 bits a byte, least significant first, high bit = more."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
