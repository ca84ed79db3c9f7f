"""health_code_time's Triton model (BLS) with stand-ins for Triton and its two OCR models."""

from __future__ import annotations

import importlib
import io
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
VERSION = REPOSITORY / "health_code_time" / "1"
# The model's modules, and the preprocess folder's two it imports (code_locator, imaging).
STAGED = ("model", "page_reading", "shown_time", "text_boxes", "ctc_decoding", "code_region",
          "code_locator", "imaging")  # fmt: skip
CHARACTERS = list("0123456789:-")
SHOWN, READ = "2022-04-12 09:31:07", "2022-04-12T09:31:07"


class Tensor:
    def __init__(self, name: str, array: np.ndarray) -> None:
        self.name, self.array = name, array

    def as_numpy(self) -> np.ndarray:
        return self.array


class TritonError:
    INVALID_ARG = 3

    def __init__(self, message: str, code: int = 0) -> None:
        self.text, self.code = message, code

    def message(self) -> str:
        return self.text


class Response:
    def __init__(self, output_tensors=(), error=None) -> None:
        self.output_tensors, self.error = list(output_tensors), error


class Triton(types.ModuleType):
    """The names of triton_python_backend_utils the model uses; BLS calls go to `models`."""

    def __init__(self) -> None:
        super().__init__("triton_python_backend_utils")
        self.Logger = types.SimpleNamespace(log_error=lambda m: None, log_warn=lambda m: None)
        self.TritonError, self.Tensor, self.InferenceResponse = TritonError, Tensor, Response
        self.models: dict = {}
        self.calls: list[tuple[str, tuple]] = []
        triton = self

        class InferenceRequest:
            def __init__(self, model_name, inputs, requested_output_names, **_):
                self.model, self.inputs, self.outputs = model_name, inputs, requested_output_names

            def exec(self):
                batch = self.inputs[0].array
                triton.calls.append((self.model, batch.shape))
                result = triton.models[self.model](batch)
                if isinstance(result, str):
                    return BlsResponse(error=result)
                return BlsResponse(tensors=[Tensor(self.outputs[0], result)])

        self.InferenceRequest = InferenceRequest

    @staticmethod
    def get_input_tensor_by_name(request, name):
        return Tensor(name, request[name])

    @staticmethod
    def get_output_tensor_by_name(response, name):
        return next(t for t in response.tensors if t.name == name)


class BlsResponse:
    def __init__(self, tensors=(), error: str | None = None) -> None:
        self.tensors, self._error = list(tensors), error

    def has_error(self) -> bool:
        return self._error is not None

    def error(self):
        return TritonError(self._error)


def detector(batch: np.ndarray) -> np.ndarray:
    """One wide text line across the middle of every page."""
    n, _, h, w = batch.shape
    prob = np.zeros((n, 1, h, w), np.float32)
    prob[:, :, h // 2 - 4 : h // 2 + 4, w // 6 : 5 * w // 6] = 0.95
    return prob


def recogniser(batch: np.ndarray) -> np.ndarray:
    """Every line reads SHOWN: one class per step, a blank between characters."""
    n, steps = batch.shape[0], batch.shape[3] // 8
    classes = ["", *CHARACTERS, " "]
    out = np.full((n, steps, len(classes)), 0.001, np.float32)
    out[:, :, 0] = 0.99  # blank
    for i, char in enumerate(SHOWN):
        out[:, 2 * i, 0], out[:, 2 * i, classes.index(char)] = 0.001, 0.99
    return out


@pytest.fixture
def model(monkeypatch, tmp_path):
    """The model initialised over a repository holding the real preprocess folder."""
    repo = tmp_path / "model_repository"
    (repo / "ocr_text_recognizer" / "1").mkdir(parents=True)
    (repo / "ocr_text_recognizer" / "1" / "keys.txt").write_text("\n".join(CHARACTERS) + "\n")
    (repo / "health_code_preprocess").symlink_to(REPOSITORY / "health_code_preprocess")
    shutil.copytree(REPOSITORY / "health_code_time", repo / "health_code_time")
    triton = Triton()
    triton.models = {"ocr_text_detector": detector, "ocr_text_recognizer": recogniser}
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", triton)
    monkeypatch.syspath_prepend(str(VERSION))
    for name in STAGED:
        monkeypatch.delitem(sys.modules, name, raising=False)
    instance = importlib.import_module("model").TritonPythonModel()
    instance.initialize({"model_config": "{}", "model_repository": str(repo / "health_code_time")})
    instance.triton = triton
    yield instance
    for name in STAGED:
        sys.modules.pop(name, None)


def jpeg(size=(720, 1600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "white").save(out, "JPEG")
    return out.getvalue()


def request(data: bytes) -> dict:
    return {"IMAGE": np.array([[data]], dtype=np.object_)}


def outputs(response) -> dict[str, str]:
    return {t.name: t.array[0, 0].decode() for t in response.output_tensors}


def test_a_batch_is_read_with_one_detector_call_per_page_size(model):
    responses = model.execute([request(jpeg()), request(jpeg()), request(jpeg((1080, 1920)))])
    for response in responses:
        assert response.error is None
        assert outputs(response) == {
            "TEXT": SHOWN,
            "READING": "2022-04-12T09:31:07",
            "LINES": SHOWN,
        }
    detector_calls = [shape for name, shape in model.triton.calls if name == "ocr_text_detector"]
    assert sorted(shape[0] for shape in detector_calls) == [1, 2]


def test_a_bad_image_fails_its_own_request_and_the_rest_of_the_batch_is_read(model):
    good, corrupt, text = model.execute(
        [request(jpeg()), request(jpeg()[:200]), request(b"hello, not an image")]
    )
    assert outputs(good)["READING"] == READ
    assert corrupt.error.code == text.error.code == TritonError.INVALID_ARG
    assert "[corrupt_image]" in corrupt.error.message()
    assert "[not_an_image]" in text.error.message()


def test_a_failing_ocr_model_is_an_error_response_not_an_exception(model):
    model.triton.models["ocr_text_recognizer"] = lambda batch: "model unavailable"
    (response,) = model.execute([request(jpeg())])
    assert "[inference_failed]" in response.error.message()


def test_a_page_without_text_answers_empty_outputs(model):
    model.triton.models["ocr_text_detector"] = lambda b: np.zeros((len(b), 1, *b.shape[2:]))
    (response,) = model.execute([request(jpeg())])
    assert outputs(response) == {"TEXT": "", "READING": "", "LINES": ""}


def test_an_unexpected_failure_on_one_page_fails_that_request_only(model, monkeypatch):
    page_reading = sys.modules["page_reading"]
    decode = page_reading.boxes_from_probability

    def fussy(probability):
        if probability.shape[1] < 0.4 * probability.shape[0]:  # only the tall page's map
            raise IndexError("a bug met by an odd page")
        return decode(probability)

    monkeypatch.setattr(page_reading, "boxes_from_probability", fussy)
    tall, usual = model.execute([request(jpeg((500, 1600))), request(jpeg())])
    assert "[inference_failed]" in tall.error.message()
    assert outputs(usual)["READING"] == READ


def test_a_recogniser_replaced_with_another_alphabet_is_read_with_the_new_one(model):
    # A polling Triton reloads the recogniser that `make install` replaced, not this model.
    alphabet = ["x", *CHARACTERS]  # a class more, every character one further on
    keys = model.repository / "ocr_text_recognizer" / "1" / "keys.txt"
    keys.write_text("\n".join(alphabet) + "\n")

    def wider(batch: np.ndarray) -> np.ndarray:
        old = recogniser(batch)
        return np.concatenate([old[:, :, :1], np.full_like(old[:, :, :1], 0.001), old[:, :, 1:]], 2)

    model.triton.models["ocr_text_recognizer"] = wider
    (response,) = model.execute([request(jpeg())])
    assert response.error is None
    assert outputs(response)["READING"] == READ
    assert len(model.decoder.classes) == len(alphabet) + 2
