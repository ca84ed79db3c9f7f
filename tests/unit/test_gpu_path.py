"""The GPU path, as far as a machine without a GPU can check it: configs, fallbacks, batch
splitting, limits and letterbox. nvJPEG is played by a CPU stand-in (simplejpeg), CUDA by torch
on the CPU.
"""

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
import yaml
from google.protobuf import text_format
from PIL import Image
from tritonclient.grpc import model_config_pb2

from gateway.repository import project_imaging
from gateway.settings import Settings
from tests.deploy.manifests import quantity_bytes
from tests.support.images import jpeg_claiming, jpeg_with_orientation

PROJECT = Path(__file__).resolve().parents[2]
REPOSITORY = PROJECT / "model_repository"
VERSION = REPOSITORY / "health_code_preprocess" / "1"
STAGED = ("imaging", "gpu_plan", "gpu_decode", "model")
SHAPE = tuple(project_imaging().INPUT_SHAPE)  # the model input, (3, height, width)


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


def damaged(data: bytes) -> bytes:
    """`data` with 40 bytes of its scan overwritten: header and end intact, the middle garbage."""
    middle = (data.index(b"\xff\xda") + len(data)) // 2
    return data[:middle] + b"\x5a" * 40 + data[middle + 40 :]


class Triton(types.ModuleType):
    """The few names of triton_python_backend_utils that the preprocess model uses."""

    def __init__(self) -> None:
        super().__init__("triton_python_backend_utils")
        self.warnings: list[str] = []
        self.errors: list[str] = []
        self.counters: dict[tuple, float] = {}
        self.Logger = types.SimpleNamespace(
            log_warn=self.warnings.append, log_error=self.errors.append, log_info=print
        )
        self.TritonError = TritonError
        self.Tensor = lambda name, array: types.SimpleNamespace(name=name, array=array)
        self.InferenceResponse = types.SimpleNamespace
        counters = self.counters

        class MetricFamily:
            COUNTER = "counter"

            def __init__(self, name: str, description: str, kind: str) -> None:
                self.name = name

            def Metric(self, labels: dict):
                key = (self.name, *sorted(labels.items()))
                counters.setdefault(key, 0.0)
                return types.SimpleNamespace(
                    increment=lambda n: counters.__setitem__(key, counters[key] + n)
                )

        self.MetricFamily = MetricFamily

    def route_count(self, route: str) -> float:
        return sum(v for k, v in self.counters.items() if ("route", route) in k)

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


class NvJpeg:
    """torchvision.io.decode_jpeg played on the CPU: like the batched call, it fails whole when
    one image is refused. `lenient` decodes damaged data as nvJPEG may; `broken` fails it all;
    `bgr` returns the channels swapped (a wrong decode)."""

    def __init__(self) -> None:
        self.refuse: tuple[bytes, ...] = ()
        self.lenient, self.broken, self.bgr = True, False, False
        self.calls: list[int] = []

    def __call__(self, data, mode=None, device=None):
        torch = importlib.import_module("torch")
        items = data if isinstance(data, list) else [data]
        self.calls.append(len(items))
        raw = [item.numpy().tobytes() for item in items]
        if self.broken or any(r in self.refuse for r in raw):
            raise RuntimeError("nvjpegDecodeBatched failed")
        decoded = [
            torch.from_numpy(simplejpeg.decode_jpeg(r, strict=not self.lenient).copy()) for r in raw
        ]
        decoded = [(t.flip(2) if self.bgr else t).permute(2, 0, 1) for t in decoded]
        return decoded if isinstance(data, list) else decoded[0]


@pytest.fixture
def cuda(triton, monkeypatch):
    """A "GPU" for the preprocess model: CUDA reported present, torchvision's decode a stand-in."""
    torch = pytest.importorskip("torch")
    nvjpeg = NvJpeg()
    io_module = types.ModuleType("torchvision.io")
    io_module.ImageReadMode = types.SimpleNamespace(RGB="RGB")
    io_module.decode_jpeg = lambda data, mode=None, device=None: nvjpeg(data, mode, device)
    torchvision = types.ModuleType("torchvision")
    torchvision.io = io_module
    monkeypatch.setitem(sys.modules, "torchvision", torchvision)
    monkeypatch.setitem(sys.modules, "torchvision.io", io_module)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    return nvjpeg


def start(decode_device: str | None, kind: str = "GPU", threads: int | None = None):
    config = {"parameters": {}}
    if decode_device:
        config["parameters"]["decode_device"] = {"string_value": decode_device}
    if threads:
        config["parameters"]["cpu_decode_threads"] = {"string_value": str(threads)}
    model = importlib.import_module("model").TritonPythonModel()
    model.initialize(
        {
            "model_config": json.dumps(config),
            "model_instance_kind": kind,
            "model_instance_device_id": "0",
            "model_name": "health_code_preprocess",
        }
    )
    return model


def run(model, images: list[bytes]) -> list:
    """One batch of one-image requests through execute(): each request's response."""
    return model.execute([{"IMAGE": np.array([[image]], dtype=object)} for image in images])


def pixels_of(response) -> np.ndarray:
    assert not getattr(response, "error", None), response.error.message
    return response.output_tensors[0].array[0]


# --- configs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["health_code_classifier", "health_code_preprocess"])
def test_each_gpu_config_differs_from_config_pbtxt_only_in_placement_batching_and_warm_up(model):
    cpu = parse(REPOSITORY / model / "config.pbtxt")
    gpu = parse(REPOSITORY / model / "configs/gpu.pbtxt")
    assert [group.kind for group in gpu.instance_group] == [
        model_config_pb2.ModelInstanceGroup.KIND_GPU
    ]
    for config in (cpu, gpu):
        for field in ("instance_group", "parameters", "dynamic_batching", "model_warmup"):
            config.ClearField(field)
    assert gpu == cpu


def test_the_preprocess_gpu_config_asks_for_the_gpu_decode_with_cpu_threads_beside_it():
    gpu = parse(REPOSITORY / "health_code_preprocess/configs/gpu.pbtxt")
    assert gpu.parameters["decode_device"].string_value == "gpu"
    assert int(gpu.parameters["cpu_decode_threads"].string_value) > 1


def test_the_gpu_classifier_picks_cudnn_algorithms_heuristically_and_warms_up_its_batch_sizes():
    gpu = parse(REPOSITORY / "health_code_classifier/configs/gpu.pbtxt")
    assert gpu.parameters["cudnn_conv_algo_search"].string_value == "1"  # HEURISTIC
    sizes = sorted(warmup.batch_size for warmup in gpu.model_warmup)
    assert sizes[0] == 1 and sizes[-1] == gpu.max_batch_size
    for warmup in gpu.model_warmup:
        (name, tensor) = next(iter(warmup.inputs.items()))
        assert name == gpu.input[0].name and list(tensor.dims) == list(gpu.input[0].dims)
        assert tensor.data_type == gpu.input[0].data_type and tensor.random_data


def chosen_config(model: Path, config_name: str) -> model_config_pb2.ModelConfig:
    """The model's config that `--model-config-name=config_name` gives: configs/<name>.pbtxt
    where there is one, else config.pbtxt."""
    chosen = model / "configs" / f"{config_name}.pbtxt"
    return parse(chosen if chosen.is_file() else model / "config.pbtxt")


def python_models_bytes(config_name: str) -> int:
    """/dev/shm the python-backend models that take image bytes can fill at once: every
    instance holding a full batch of the largest bodies the gateway admits."""
    total = 0
    for path in REPOSITORY.glob("*/config.pbtxt"):
        config = chosen_config(path.parent, config_name)
        if config.backend == "python" and any(i.name == "IMAGE" for i in config.input):
            instances = sum(group.count for group in config.instance_group)
            total += instances * config.max_batch_size * Settings().max_body_bytes
    return total


def recognised_bytes(config_name: str, page_reading: types.ModuleType) -> int:
    """/dev/shm the recogniser's answers can fill at once: every instance of the BLS model that
    calls it receiving a call's worth of the widest lines (a step of output per 8 px)."""
    reader = chosen_config(REPOSITORY / "health_code_time", config_name)
    recogniser = chosen_config(REPOSITORY / "ocr_text_recognizer", config_name)
    instances = sum(group.count for group in reader.instance_group)
    classes = recogniser.output[0].dims[-1]
    steps = page_reading.MAX_LINE_WIDTH_PX // 8
    return instances * page_reading.MAX_LINES_PER_CALL * steps * classes * 4  # FP32


def test_tritons_shared_memory_holds_full_batches_of_the_largest_images(monkeypatch):
    # deploy/k8s's /dev/shm equals compose's (tests/deploy): this sizes both.
    compose = yaml.safe_load((PROJECT / "docker-compose.yml").read_text())
    shm = quantity_bytes(compose["services"]["triton"]["shm_size"])
    monkeypatch.syspath_prepend(str(REPOSITORY / "health_code_time" / "1"))
    monkeypatch.syspath_prepend(str(VERSION))  # page_reading imports imaging from there
    page_reading = importlib.import_module("page_reading")
    for config_name in ("gpu", "config"):
        assert python_models_bytes(config_name) + recognised_bytes(config_name, page_reading) <= shm


# --- the fallback to the CPU ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["GPU", "CPU"])
def test_asking_for_the_gpu_decode_without_a_usable_gpu_warns_once_and_uses_the_cpu(triton, kind):
    model = start("gpu", kind)
    assert model.gpu is None
    assert len(triton.warnings) == 1
    assert "using the CPU" in triton.warnings[0]
    assert pixels_of(run(model, [encode(smooth(300, 600), "JPEG")])[0]).shape == SHAPE


class BrokenInstall(types.ModuleType):
    """gpu_decode as a broken torch install leaves it: importing a name raises OSError."""

    def __getattr__(self, name: str):
        raise OSError("libcudart.so.12: cannot open shared object file")


def test_a_broken_torch_install_raising_oserror_still_leaves_the_model_loadable(
    triton, monkeypatch
):
    monkeypatch.setitem(sys.modules, "gpu_decode", BrokenInstall("gpu_decode"))
    model = start("gpu")
    assert model.gpu is None and len(triton.warnings) == 1 and "OSError" in triton.warnings[0]


def test_the_gpu_warms_up_at_load_and_a_healthy_one_serves_the_first_batch(triton, cuda):
    model = start("gpu")
    assert model.gpu is not None and not triton.warnings
    assert cuda.calls[0] == 2  # the warm-up's batched decode, before any request
    image = encode(smooth(600, 300), "JPEG")
    assert pixels_of(run(model, [image])[0]).shape == SHAPE
    assert triton.route_count("gpu") == 1


def test_a_gpu_failing_its_warm_up_sends_the_instance_to_the_cpu_before_any_request(triton, cuda):
    cuda.broken = True
    model = start("gpu")
    assert model.gpu is None
    assert len(triton.warnings) == 1 and "GpuFault" in triton.warnings[0]


def test_a_gpu_whose_warm_up_pixels_differ_from_imaging_is_not_used(triton, cuda):
    cuda.bgr = True
    model = start("gpu")
    assert model.gpu is None and "differs from imaging" in triton.warnings[0]


def test_a_gpu_failing_batches_serves_them_on_the_cpu_then_is_given_up(triton, cuda):
    model = start("gpu")
    cuda.broken = True
    image = encode(smooth(300, 600), "JPEG")
    expected = importlib.import_module("imaging").image_to_tensor(image)
    for _ in range(3):
        assert np.array_equal(pixels_of(run(model, [image, image])[1]), expected)
    assert len(triton.errors) == 3 and model.gpu is None
    assert "until the model is reloaded" in triton.warnings[-1]
    assert triton.route_count("gpu_fault") == 6


# --- batches, limits, damaged data ---------------------------------------------------------------


def test_a_refused_image_is_found_by_halving_the_batch_and_only_it_goes_to_the_cpu(triton, cuda):
    model = start("gpu")
    good = [encode(smooth(300 + i, 600), "JPEG") for i in range(63)]
    refused = encode(smooth(600, 300), "JPEG")
    cuda.refuse = (refused,)
    cuda.calls.clear()
    responses = run(model, [*good[:40], refused, *good[40:]])
    imaging = importlib.import_module("imaging")
    assert np.array_equal(pixels_of(responses[40]), imaging.image_to_tensor(refused))
    assert all(pixels_of(r).shape == SHAPE for r in responses)
    # one by one would be 1 + 64 calls; halving is the failing path's log2(64) levels, twice
    # (both halves of each failing split), plus a known-good probe per failure
    assert len(cuda.calls) <= 1 + 2 * 6 + 7
    assert triton.route_count("refused") == 1 and triton.route_count("gpu") == 63


def test_an_image_the_gpu_cannot_letterbox_alone_takes_the_cpu_and_faults_nothing(
    triton, cuda, monkeypatch
):
    model = start("gpu")
    gpu_decode = importlib.import_module("gpu_decode")
    real = gpu_decode.letterbox

    def letterbox(image, target, box=None):
        if image.shape[1] == 601:  # this one image's height
            raise RuntimeError("Too much shared memory required")
        return real(image, target, box)

    monkeypatch.setattr(gpu_decode, "letterbox", letterbox)
    odd, good = encode(smooth(300, 601), "JPEG"), encode(smooth(300, 600), "JPEG")
    responses = run(model, [good, odd, good])
    imaging = importlib.import_module("imaging")
    assert np.array_equal(pixels_of(responses[1]), imaging.image_to_tensor(odd))
    assert triton.route_count("gpu") == 2 and triton.route_count("refused") == 1
    assert model.gpu is not None and not triton.errors


def test_damaged_data_behind_a_valid_header_gets_the_gpu_answer_when_nvjpeg_decodes_it(
    triton, cuda
):
    image = damaged(encode(smooth(640, 480), "JPEG"))
    imaging = importlib.import_module("imaging")
    with pytest.raises(imaging.ImageError, match="corrupt_image"):
        imaging.image_to_tensor(image)  # the CPU path is strict
    model = start("gpu")
    assert pixels_of(run(model, [image])[0]).shape == SHAPE  # decided: lenient


def test_damaged_data_that_nvjpeg_refuses_gets_the_cpu_paths_corrupt_image(triton, cuda):
    image = damaged(encode(smooth(640, 480), "JPEG"))
    cuda.lenient = False
    (response,) = run(start("gpu"), [image])
    assert response.error.code == TritonError.INVALID_ARG
    assert "[corrupt_image]" in response.error.message


def test_the_gpu_path_leaves_pngs_odd_jpegs_bad_headers_and_truncations_to_imaging(triton):
    gpu_plan = importlib.import_module("gpu_plan")  # header reads only: no torch needed
    box_h, box_w = gpu_plan._box()
    reasons = {
        "not_jpeg": encode(smooth(64, 48), "PNG"),
        "colorspace": encode(Image.new("L", (64, 48)), "JPEG"),
        "header": jpeg_claiming(10_000, 10_000),  # past imaging's pixel limit
        "truncated": encode(smooth(640, 480), "JPEG")[:-100],
        "orientation": jpeg_with_orientation(smooth(64, 48), 6),
        "large": jpeg_claiming(5000, 4000),  # 20 Mpx: a full-size decode is too big
        "downscale": jpeg_claiming(box_w, 70 * box_h),  # 70x: CUDA's antialiasing cannot
    }
    for reason, data in reasons.items():
        assert gpu_plan.plan(data) == reason, reason
    assert gpu_plan.plan(encode(Image.new("CMYK", (64, 48)), "JPEG")) == "colorspace"
    assert gpu_plan.plan(b"\xff\xd8\xff\xe0" + b"\0" * 20) in ("truncated", "header")
    within = gpu_plan.plan(jpeg_claiming(box_w, 60 * box_h))
    assert isinstance(within, gpu_plan.Job) and within.target[1] == box_h
    assert isinstance(gpu_plan.plan(jpeg_with_orientation(smooth(64, 48), 1)), gpu_plan.Job)


def test_an_image_beyond_the_downscale_limit_takes_the_cpu_and_the_rest_of_its_batch_the_gpu(
    triton, cuda
):
    model = start("gpu")
    box_h, box_w = importlib.import_module("gpu_plan")._box()
    tall = jpeg_claiming(box_w, 70 * box_h)  # only its header is real: the CPU refuses its data
    responses = run(model, [encode(smooth(300, 600), "JPEG"), tall])
    assert pixels_of(responses[0]).shape == SHAPE
    assert "[corrupt_image]" in responses[1].error.message
    assert triton.route_count("downscale") == 1 and triton.route_count("gpu") == 1


def test_a_batch_is_decoded_in_chunks_within_the_pixel_budget(triton, cuda):
    model = start("gpu")
    model.gpu.pixel_budget = 3 * 300 * 600  # three of these images at a time
    cuda.calls.clear()
    images = [encode(smooth(300, 600), "JPEG") for _ in range(8)]
    assert all(pixels_of(r).shape == SHAPE for r in run(model, images))
    assert cuda.calls == [3, 3, 2]
    gpu_plan = importlib.import_module("gpu_plan")
    jobs = [gpu_plan.Job(10, 10, (10, 10)), gpu_plan.Job(100, 100, (100, 100))]
    assert gpu_plan.chunks(jobs, budget=50) == [[0], [1]]  # alone, even past the budget


def test_the_cpu_share_of_a_batch_is_decoded_on_the_pool_beside_the_gpu(triton, cuda):
    model = start("gpu", threads=4)
    imaging = importlib.import_module("imaging")
    png, grey = encode(smooth(320, 640), "PNG"), encode(Image.new("L", (64, 48), 90), "JPEG")
    jpeg = encode(smooth(300, 600), "JPEG")
    responses = run(model, [png, jpeg, grey, b"not an image"])
    assert np.array_equal(pixels_of(responses[0]), imaging.image_to_tensor(png))
    assert np.array_equal(pixels_of(responses[2]), imaging.image_to_tensor(grey))
    assert pixels_of(responses[1]).shape == SHAPE
    assert "[not_an_image]" in responses[3].error.message
    assert triton.route_count("not_jpeg") == 2 and triton.route_count("colorspace") == 1
    model.finalize()


def test_the_cpu_path_serves_a_batch_in_which_one_request_is_corrupt(triton):
    model = start(None)
    ok, bad = run(model, [encode(smooth(300, 600), "JPEG"), b"\xff\xd8\xff"])
    assert ok.output_tensors[0].array.shape == (1, *importlib.import_module("imaging").INPUT_SHAPE)
    assert bad.error.code == triton.TritonError.INVALID_ARG
    assert "[corrupt_image]" in bad.error.message
    assert not triton.warnings and not triton.counters


# (1256, 2411) and (2064, 603): sizing from the full-size decode would be a pixel off imaging's.
@pytest.mark.parametrize(
    "size", [(1080, 2340), (1256, 2411), (2064, 603), (150, 100), (1440, 3200), (720, 1280)]
)
def test_the_gpu_letterbox_of_a_full_size_decode_matches_imaging(triton, size):
    torch = pytest.importorskip("torch")
    gpu_decode, imaging = importlib.import_module("gpu_decode"), importlib.import_module("imaging")
    data = encode(smooth(*size), "JPEG")
    full = torch.from_numpy(simplejpeg.decode_jpeg(data, colorspace="RGB")).permute(2, 0, 1)

    target = importlib.import_module("gpu_plan").plan(data).target
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
