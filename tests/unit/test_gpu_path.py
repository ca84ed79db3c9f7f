"""The GPU path, as far as a machine without a GPU can check it: configs, fallback, letterbox."""

from __future__ import annotations

import importlib
import io
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import simplejpeg
from google.protobuf import text_format
from PIL import Image
from tritonclient.grpc import model_config_pb2

from tests.images import jpeg_claiming, jpeg_with_orientation

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
VERSION = REPOSITORY / "health_code_preprocess" / "1"
STAGED = ("imaging", "gpu_decode", "model")


def parse(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def encode(img: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, quality=95)
    return out.getvalue()


def smooth(width: int, height: int) -> Image.Image:
    """A screenshot-sized image with no sharp edges, where both resizes should agree closely."""
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    rgb = np.stack([np.sin(3 * x), np.cos(2 * y), np.sin(2 * (x + y))], axis=-1)
    return Image.fromarray(((rgb + 1) * 127.5).astype(np.uint8))


class Triton(types.ModuleType):
    """The few names of triton_python_backend_utils that the preprocess model uses."""

    def __init__(self) -> None:
        super().__init__("triton_python_backend_utils")
        self.warnings: list[str] = []
        self.Logger = types.SimpleNamespace(log_warn=self.warnings.append, log_error=print)
        self.TritonError = TritonError
        self.Tensor = lambda name, array: types.SimpleNamespace(name=name, array=array)
        self.InferenceResponse = types.SimpleNamespace

    @staticmethod
    def get_input_tensor_by_name(request, name):
        return types.SimpleNamespace(as_numpy=lambda: request[name])


class TritonError:
    INVALID_ARG = 3

    def __init__(self, message: str, code: int = 0) -> None:
        self.message, self.code = message, code


@pytest.fixture
def triton(monkeypatch):
    """The preprocess model's folder importable as in Triton's stub, with a stand-in pb_utils."""
    stub = Triton()
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", stub)
    monkeypatch.syspath_prepend(str(VERSION))
    for name in STAGED:
        sys.modules.pop(name, None)
    yield stub
    for name in STAGED:
        sys.modules.pop(name, None)


def start(decode_device: str | None, kind: str = "GPU"):
    config = {"parameters": {}}
    if decode_device:
        config["parameters"]["decode_device"] = {"string_value": decode_device}
    model = importlib.import_module("model").TritonPythonModel()
    model.initialize(
        {
            "model_config": json.dumps(config),
            "model_instance_kind": kind,
            "model_instance_device_id": "0",
        }
    )
    return model


@pytest.mark.parametrize("model", ["health_code_classifier", "health_code_preprocess"])
def test_each_gpu_config_differs_from_config_pbtxt_only_in_placement_and_batching(model):
    cpu = parse(REPOSITORY / model / "config.pbtxt")
    gpu = parse(REPOSITORY / model / "configs/gpu.pbtxt")
    assert [group.kind for group in gpu.instance_group] == [
        model_config_pb2.ModelInstanceGroup.KIND_GPU
    ]
    for config in (cpu, gpu):
        for field in ("instance_group", "parameters", "dynamic_batching"):
            config.ClearField(field)
    assert gpu == cpu


def test_the_preprocess_gpu_config_asks_for_the_gpu_decode():
    gpu = parse(REPOSITORY / "health_code_preprocess/configs/gpu.pbtxt")
    assert gpu.parameters["decode_device"].string_value == "gpu"


@pytest.mark.parametrize("kind", ["GPU", "CPU"])
def test_asking_for_the_gpu_decode_without_a_usable_gpu_warns_once_and_uses_the_cpu(triton, kind):
    model = start("gpu", kind)
    assert model.gpu is None
    assert len(triton.warnings) == 1
    assert "using the CPU" in triton.warnings[0]


def test_the_cpu_path_serves_a_batch_in_which_one_request_is_corrupt(triton):
    model = start(None)
    good = encode(smooth(300, 600), "JPEG")
    requests = [
        {"IMAGE": np.array([[good]], dtype=object)},
        {"IMAGE": np.array([[b"\xff\xd8\xff"]], dtype=object)},
    ]
    ok, bad = model.execute(requests)
    assert ok.output_tensors[0].array.shape == (1, *importlib.import_module("imaging").INPUT_SHAPE)
    assert bad.error.code == triton.TritonError.INVALID_ARG
    assert "[corrupt_image]" in bad.error.message
    assert not triton.warnings


def test_the_gpu_path_leaves_pngs_odd_jpegs_bad_headers_and_truncations_to_imaging(triton):
    pytest.importorskip("torch")
    gpu_decode = importlib.import_module("gpu_decode")
    for data in (
        encode(smooth(64, 48), "PNG"),
        encode(Image.new("CMYK", (64, 48)), "JPEG"),
        encode(Image.new("L", (64, 48)), "JPEG"),
        b"\xff\xd8\xff\xe0" + b"\0" * 20,
        jpeg_claiming(10_000, 10_000),
        encode(smooth(640, 480), "JPEG")[:-100],
        jpeg_with_orientation(smooth(64, 48), 6),
    ):
        assert gpu_decode.jpeg_target(data) is None
    assert gpu_decode.jpeg_target(jpeg_with_orientation(smooth(64, 48), 1)) is not None


def test_an_image_nvjpeg_refuses_fails_neither_the_batch_nor_its_request(triton):
    torch = pytest.importorskip("torch")
    gpu_decode = importlib.import_module("gpu_decode")
    good, refused = encode(smooth(300, 600), "JPEG"), encode(smooth(600, 300), "JPEG")

    def nvjpeg(data):  # a CPU stand-in that, like the batched call, fails whole on one bad image
        items = data if isinstance(data, list) else [data]
        if any(item.numpy().tobytes() == refused for item in items):
            raise RuntimeError("nvJPEG refused it")
        decoded = [
            torch.from_numpy(simplejpeg.decode_jpeg(i.numpy())).permute(2, 0, 1) for i in items
        ]
        return decoded if isinstance(data, list) else decoded[0]

    decoder = object.__new__(gpu_decode.GpuDecoder)  # no CUDA here: skip the device checks
    decoder._decode_jpeg = nvjpeg
    results = decoder([good, refused, encode(smooth(64, 48), "PNG"), good])
    assert results[1] is None and results[2] is None  # both left to imaging
    shape = importlib.import_module("imaging").INPUT_SHAPE
    assert results[0].shape == shape and np.array_equal(results[0], results[3])


# (1256, 2411) and (2064, 603): sizing from the full-size decode would be a pixel off imaging's.
@pytest.mark.parametrize(
    "size", [(1080, 2340), (1256, 2411), (2064, 603), (150, 100), (1440, 3200), (720, 1280)]
)
def test_the_gpu_letterbox_of_a_full_size_decode_matches_imaging(triton, size):
    torch = pytest.importorskip("torch")
    gpu_decode, imaging = importlib.import_module("gpu_decode"), importlib.import_module("imaging")
    data = encode(smooth(*size), "JPEG")
    full = torch.from_numpy(simplejpeg.decode_jpeg(data, colorspace="RGB")).permute(2, 0, 1)

    target = gpu_decode.jpeg_target(data)
    ours = gpu_decode.letterbox(full, target).numpy()
    theirs = imaging.image_to_tensor(data)
    assert ours.shape == theirs.shape == imaging.INPUT_SHAPE
    assert ours.dtype == np.uint8
    (width, height), pad = target, imaging.PAD_VALUE
    box_h, box_w = imaging.INPUT_SHAPE[1:]
    top, left = (box_h - height) // 2, (box_w - width) // 2
    inside = np.zeros((box_h, box_w), dtype=bool)
    inside[top : top + height, left : left + width] = True
    for tensor in (ours, theirs):  # the same region holds the image, the same grey surrounds it
        assert (tensor[:, ~inside] == pad).all()
        assert not (tensor[:, inside] == pad).all(axis=0).any()
    difference = np.abs(ours.astype(int) - theirs.astype(int))[:, inside]
    assert difference.max() <= 3  # 2 seen: different low-pass filters, see gpu_decode.py
    assert difference.mean() < 0.5
