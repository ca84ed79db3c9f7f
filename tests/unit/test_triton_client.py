"""The Triton connection's pure parts: error mapping and channel options; scores to answers."""

from __future__ import annotations

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from gateway import errors
from gateway.classification import classify
from gateway.repository import project_imaging, project_labels
from gateway.triton_client import channel_args, to_gateway_error


def ise(message: str, status: str | None) -> InferenceServerException:
    return InferenceServerException(message, status=status)


UNAVAILABLE = "StatusCode.UNAVAILABLE"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ise("failed to connect to all addresses", UNAVAILABLE), errors.TritonUnavailable),
        (ise("Socket closed", UNAVAILABLE), errors.TritonUnavailable),
        (ise("Exceeds maximum queue size", UNAVAILABLE), errors.Overloaded),
        (ise("Request timeout expired", UNAVAILABLE), errors.Overloaded),
        (ise("", "StatusCode.RESOURCE_EXHAUSTED"), errors.Overloaded),
        (ise("Deadline Exceeded", "StatusCode.DEADLINE_EXCEEDED"), errors.DeadlineExceeded),
        (
            ise("Request for unknown model: 'health_code' is not found", "StatusCode.NOT_FOUND"),
            errors.ModelUnavailable,
        ),
        (
            ise("Request for unknown model: 'health_code' has no available versions", UNAVAILABLE),
            errors.ModelUnavailable,
        ),
        (
            ise("[corrupt_image] cannot decode JPEG", "StatusCode.INVALID_ARGUMENT"),
            errors.CorruptImage,
        ),
        (
            ise("model 'x' [v1]: ImageError: [not_an_image] neither", "StatusCode.INTERNAL"),
            errors.NotAnImage,
        ),
        (ise("[image_too_large] 9000x9000", "StatusCode.INVALID_ARGUMENT"), errors.ImageTooLarge),
        (
            ise("[unsupported_image_format] GIF", "StatusCode.INVALID_ARGUMENT"),
            errors.UnsupportedImageFormat,
        ),
        (ise("[weird_code] something", "StatusCode.INVALID_ARGUMENT"), errors.InferenceFailed),
        (
            ise("unexpected shape for input 'IMAGE'", "StatusCode.INVALID_ARGUMENT"),
            errors.InferenceFailed,
        ),
        (ise("boom", "StatusCode.INTERNAL"), errors.InferenceFailed),
        (ise("client-side failure", None), errors.InferenceFailed),
    ],
)
def test_triton_errors_map_to_one_gateway_error_each(error, expected):
    assert type(to_gateway_error(error)) is expected


def test_a_preprocess_error_keeps_its_message_for_the_client():
    error = to_gateway_error(ise("x: [corrupt_image] cannot decode JPEG\nTraceback", None))
    assert error.message == "cannot decode JPEG"


def test_every_code_imaging_raises_has_a_gateway_error_of_its_own():
    imaging = project_imaging()
    samples = {
        b"": "empty_image",
        b"GIF89a" + b"\0" * 32: "unsupported_image_format",
        b"plain text": "not_an_image",
        b"\xff\xd8\xff\xe0" + b"\0" * 20: "corrupt_image",
    }
    for data, code in samples.items():
        with pytest.raises(imaging.ImageError) as info:
            imaging.image_to_tensor(data)
        assert info.value.code == code
        assert errors.from_image_error(code).code == code


LABELS = ("green", "yellow", "red", "invalid")


def test_scores_are_labelled_and_the_highest_is_the_status():
    result = classify(np.array([0.1, 0.2, 0.6, 0.1], np.float32), LABELS, "7", None)
    assert (result.status, result.decided_by, result.model_version) == ("red", "model", "7")
    assert result.confidence == pytest.approx(0.6)
    assert list(result.scores) == list(LABELS)


def test_a_colour_below_the_threshold_is_answered_invalid_by_the_rule():
    row = np.array([0.55, 0.3, 0.05, 0.1], np.float32)
    result = classify(row, LABELS, "2", 0.9)
    assert (result.status, result.decided_by) == ("invalid", "threshold")
    assert result.confidence == pytest.approx(0.1)
    assert result.scores["green"] == pytest.approx(0.55)  # the model's own probabilities stay


def test_a_colour_at_or_above_the_threshold_and_invalid_itself_are_the_models_answer():
    assert classify(np.array([0.9, 0.05, 0.03, 0.02]), LABELS, "2", 0.9).status == "green"
    assert classify(np.array([0.3, 0.1, 0.1, 0.5]), LABELS, "2", 0.9).decided_by == "model"


def test_the_labels_are_read_from_the_classifiers_labels_file():
    assert project_labels() == LABELS  # the API's documented order


def test_channel_args_keep_message_sizes_ping_every_2_s_and_cap_reconnect_backoff():
    args = dict(channel_args())
    assert args["grpc.max_receive_message_length"] == 2**31 - 1
    assert args["grpc.keepalive_time_ms"] == 2_000
    assert args["grpc.keepalive_permit_without_calls"] == 1
    assert args["grpc.max_reconnect_backoff_ms"] <= 1000
