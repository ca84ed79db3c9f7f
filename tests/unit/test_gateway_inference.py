"""The Triton wrapper's pure parts: error mapping, labelled scores, repository contracts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tritonclient.grpc import KeepAliveOptions
from tritonclient.utils import InferenceServerException

from gateway import errors, inference, payload
from training.preprocessing import imaging

REPO = Path(__file__).resolve().parents[2]


def ise(message: str, status: str | None) -> InferenceServerException:
    return InferenceServerException(message, status=status)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ise("failed to connect to all addresses", "StatusCode.UNAVAILABLE"),
         errors.TritonUnavailable),
        (ise("Socket closed", "StatusCode.UNAVAILABLE"), errors.TritonUnavailable),
        (ise("Exceeds maximum queue size", "StatusCode.UNAVAILABLE"), errors.Overloaded),
        (ise("Request timeout expired", "StatusCode.UNAVAILABLE"), errors.Overloaded),
        (ise("", "StatusCode.RESOURCE_EXHAUSTED"), errors.Overloaded),
        (ise("Deadline Exceeded", "StatusCode.DEADLINE_EXCEEDED"), errors.DeadlineExceeded),
        (ise("Request for unknown model: 'health_code' is not found", "StatusCode.NOT_FOUND"),
         errors.ModelUnavailable),
        (ise("Request for unknown model: 'health_code' has no available versions",
             "StatusCode.UNAVAILABLE"), errors.ModelUnavailable),
        (ise("[corrupt_image] cannot decode JPEG", "StatusCode.INVALID_ARGUMENT"),
         errors.CorruptImage),
        (ise("model 'x' [v1]: ImageError: [not_an_image] neither JPEG nor PNG",
             "StatusCode.INTERNAL"), errors.NotAnImage),
        (ise("[image_too_large] 9000x9000", "StatusCode.INVALID_ARGUMENT"), errors.ImageTooLarge),
        (ise("[weird_code] something", "StatusCode.INVALID_ARGUMENT"), errors.InferenceFailed),
        (ise("unexpected shape for input 'IMAGE'", "StatusCode.INVALID_ARGUMENT"),
         errors.InferenceFailed),
        (ise("boom", "StatusCode.INTERNAL"), errors.InferenceFailed),
        (ise("client-side failure", None), errors.InferenceFailed),
    ],
)  # fmt: skip
def test_triton_errors_map_to_one_gateway_error_each(error, expected):
    assert type(inference.triton_error(error)) is expected


def test_a_preprocess_error_keeps_its_message_for_the_client():
    error = inference.triton_error(ise("x: [corrupt_image] cannot decode JPEG\nTraceback", None))
    assert error.message == "cannot decode JPEG"


def test_scores_are_labelled_and_the_highest_is_the_status():
    result = inference.to_classification(np.array([0.1, 0.2, 0.6, 0.1], np.float32), "7")
    assert result.status == "red"
    assert result.confidence == pytest.approx(0.6)
    assert list(result.scores) == ["green", "yellow", "red", "invalid"]
    assert result.model_version == "7"


def test_the_label_order_is_the_classifiers_labels_file():
    labels = REPO / "model_repository/health_code_classifier/labels.txt"
    assert tuple(labels.read_text().split()) == inference.LABELS


def test_the_pixel_limit_is_the_triton_preprocess_limit():
    assert payload.MAX_PIXELS == imaging.MAX_PIXELS


def test_channel_args_keep_tritonclients_defaults_and_cap_reconnect_backoff():
    args = dict(inference.channel_args())
    assert args["grpc.max_receive_message_length"] == 2**31 - 1
    assert args["grpc.keepalive_time_ms"] == KeepAliveOptions().keepalive_time_ms
    assert args["grpc.max_reconnect_backoff_ms"] <= 1000


def test_every_image_error_code_of_triton_has_a_gateway_error():
    codes = {"empty_image", "not_an_image", "corrupt_image", "image_too_large"}
    assert codes <= set(errors.IMAGE_ERRORS)
