"""The gateway over HTTP, with a fake Triton client: answers, refusals with codes, operations."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from tritonclient.utils import InferenceServerException

from gateway.repository import project_imaging
from gateway.settings import Settings
from tests.support.fake_triton import MAX_BODY_BYTES, URL, FakeTriton, as_json, error_code, gateway
from tests.support.images import encode, jpeg_claiming, png_claiming

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
async def gw() -> AsyncIterator[tuple[httpx.AsyncClient, FakeTriton]]:
    async with gateway() as pair:
        yield pair


@pytest.fixture
def http(gw):
    return gw[0]


@pytest.fixture
def fake(gw):
    return gw[1]


def unavailable(message: str = "failed to connect to all addresses") -> InferenceServerException:
    return InferenceServerException(message, status="StatusCode.UNAVAILABLE")


# --- answers ---------------------------------------------------------------------------------


async def test_a_json_body_is_answered_with_status_confidence_scores_and_version(http):
    response = await http.post(URL, json=as_json(encode("JPEG")))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "usage": "health-code",
        "status": "yellow",
        "confidence": pytest.approx(0.9),
        "scores": {
            "green": pytest.approx(0.05),
            "yellow": pytest.approx(0.9),
            "red": pytest.approx(0.03),
            "invalid": pytest.approx(0.02),
        },
        "model_version": "1",
        "decided_by": "model",
        "request_id": response.headers["x-request-id"],
    }
    assert HEX_ID.fullmatch(body["request_id"])


@pytest.mark.parametrize(("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png")])
async def test_a_raw_image_body_is_answered_like_json(http, fmt, content_type):
    response = await http.post(URL, content=encode(fmt), headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "yellow"


async def test_decoded_by_the_gateway_the_image_reaches_the_classifier_as_its_tensor(gw):
    http, fake = gw
    image = encode("PNG")
    assert (await http.post(URL, json=as_json(image))).status_code == 200
    (call,) = fake.calls
    (tensor,) = call.inputs
    assert call.model == "health_code_classifier"
    pixels = project_imaging().image_to_tensor(image)
    shape = [1, *pixels.shape]
    assert (tensor.name, list(tensor.shape), tensor.datatype) == ("PIXELS", shape, "UINT8")
    assert b"".join(tensor.contents) == pixels.tobytes()
    assert 0 < call.timeout <= Settings().request_timeout_s


async def test_decoded_by_triton_the_image_reaches_the_ensemble_as_one_bytes_element():
    async with gateway(decode="triton") as (http, fake):
        image = encode("PNG")
        assert (await http.post(URL, json=as_json(image))).status_code == 200
    (call,) = fake.calls
    (tensor,) = call.inputs
    assert call.model == "health_code"
    assert (tensor.name, list(tensor.shape), tensor.datatype) == ("IMAGE", [1, 1], "BYTES")
    assert b"".join(tensor.contents) == len(image).to_bytes(4, "little") + image
    assert 0 < call.timeout <= Settings().request_timeout_s


async def test_a_data_url_prefix_is_accepted(http):
    response = await http.post(URL, json=as_json(encode("PNG"), "data:image/png;base64,"))
    assert response.status_code == 200, response.text


async def test_model_version_is_the_classifier_version_not_the_ensemble_version(gw):
    http, fake = gw
    fake.index = [
        ("health_code", "1", "READY"),
        ("health_code_classifier", "1", "UNAVAILABLE"),
        ("health_code_classifier", "2", "READY"),
    ]
    await fake.triton.refresh()
    response = await http.post(URL, json=as_json(encode("JPEG")))
    assert response.json()["model_version"] == "2"


async def test_model_version_is_what_triton_reported_until_the_index_names_one(gw):
    http, fake = gw
    fake.index = []
    await fake.triton.refresh()
    response = await http.post(URL, json=as_json(encode("JPEG")))
    assert response.json()["model_version"] == "1"  # from the infer response itself


async def test_the_classifiers_own_threshold_turns_an_unsure_colour_into_invalid(gw):
    http, fake = gw
    fake.scores = [[0.6, 0.3, 0.05, 0.05]]
    fake.parameters = {"health_code_classifier": {"min_colour_probability": "0.8"}}
    fake.index = [("health_code_classifier", "2", "READY")]
    await fake.triton.refresh()
    body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"], body["model_version"]) == (
        "invalid",
        "threshold",
        "2",
    )
    assert body["scores"]["green"] == pytest.approx(0.6)


async def test_the_threshold_setting_overrides_the_classifiers_own():
    async with gateway(min_colour_probability=0.5) as (http, fake):
        fake.scores = [[0.6, 0.3, 0.05, 0.05]]
        fake.parameters = {"health_code_classifier": {"min_colour_probability": "0.8"}}
        fake.index = [("health_code_classifier", "2", "READY")]
        await fake.triton.refresh()
        body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"]) == ("green", "model")


# --- the closer look -----------------------------------------------------------------------------

CLOSER_RULE = {
    "min_colour_probability": "0.9",
    "closer_look_min_colour_probability": "0.99",
    "closer_look_min_first_colour": "0.05",
    "closer_look_check_colours_below": "0.98",
}
CLOSER_READY = [
    ("health_code_classifier", "2", "READY"),
    ("health_code_closer", "1", "READY"),
    ("health_code_locate", "1", "READY"),
]


async def refused_then_looked_at(fake, *, parameters=CLOSER_RULE, index=CLOSER_READY) -> None:
    """A first look that refuses a 0.6 green; a classifier with the closer look's rule."""
    fake.scores = [[0.6, 0.3, 0.05, 0.05]]
    fake.parameters = {"health_code_classifier": parameters}
    fake.index = index
    await fake.triton.refresh()


async def test_a_refused_page_answered_from_the_closer_look_says_so_with_the_codes_box(gw):
    http, fake = gw
    await refused_then_looked_at(fake)
    image = encode("JPEG")
    body = (await http.post(URL, json=as_json(image))).json()
    assert (body["status"], body["decided_by"], body["model_version"]) == (
        "green",
        "closer_look",
        "2",
    )
    assert body["scores"]["green"] == body["confidence"] == pytest.approx(0.995)
    assert body["code_box"] == pytest.approx([0.1, 0.2, 0.4, 0.35])
    first, closer = fake.calls
    assert (first.model, closer.model) == ("health_code_classifier", "health_code_closer")
    tensor, read_ink, check = closer.inputs  # the closer look decodes in Triton, whoever decoded
    assert (tensor.name, tensor.datatype) == ("IMAGE", "BYTES")
    assert b"".join(tensor.contents) == len(image).to_bytes(4, "little") + image
    assert (read_ink.name, read_ink.datatype, read_ink.shape) == ("READ_INK", "BOOL", (1, 1))
    assert b"".join(read_ink.contents) == b"\x01"  # green 0.6 seen: its code's ink can answer it
    assert (check.name, check.datatype, check.shape) == ("CHECK_COLOUR", "BOOL", (1, 1))
    assert b"".join(check.contents) == b"\x00"  # a refused page: no blurred code can answer it


async def test_a_closer_look_below_its_own_bar_leaves_the_first_answer(gw):
    http, fake = gw
    await refused_then_looked_at(fake)
    fake.closer_scores = [[0.97, 0.01, 0.01, 0.01]]  # above the first look's 0.9, below 0.99
    body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"]) == ("invalid", "threshold")
    assert body["scores"]["green"] == pytest.approx(0.6)  # the first look's
    assert body["code_box"] == pytest.approx([0.1, 0.2, 0.4, 0.35])  # a code was found


async def test_a_page_with_no_code_keeps_the_first_answer_and_no_box(gw):
    http, fake = gw
    await refused_then_looked_at(fake)
    fake.closer_box = [[0, 0, 0, 0]]
    body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"]) == ("invalid", "threshold")
    assert "code_box" not in body


async def test_an_unsure_colour_with_no_code_in_the_page_is_withdrawn(gw):
    http, fake = gw
    await refused_then_looked_at(fake)
    fake.scores = [[0.95, 0.02, 0.01, 0.02]]  # a green over the threshold, under the check
    fake.closer_box = [[0, 0, 0, 0]]
    body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"]) == ("invalid", "no_code")
    assert body["scores"]["green"] == pytest.approx(0.95)  # the model's, as always
    assert body["confidence"] == pytest.approx(0.02)  # the probability of the answer
    assert "code_box" not in body
    assert [call.model for call in fake.calls] == ["health_code_classifier", "health_code_closer"]


async def test_an_unsure_colour_whose_code_is_found_stands_with_its_box(gw):
    http, fake = gw
    await refused_then_looked_at(fake)
    fake.scores = [[0.95, 0.02, 0.01, 0.02]]
    fake.closer_scores = [[0.1, 0.1, 0.1, 0.7]]  # the view's opinion does not matter here
    body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"], body["confidence"]) == ("green", "model", 0.95)
    assert body["code_box"] == pytest.approx([0.1, 0.2, 0.4, 0.35])


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        ([[0.45, 0.1, 0.1, 0.35]], ("green", "model")),  # the view sees green most: a code
        ([[0.1, 0.1, 0.1, 0.7]], ("invalid", "no_code")),  # a photo's noise, a flat square
        ([[0.1, 0.7, 0.1, 0.1]], ("invalid", "no_code")),  # another colour's
    ],
)
async def test_an_unsure_colour_whose_blurred_code_is_found_stands_where_its_view_agrees(
    gw, view, expected
):
    http, fake = gw
    await refused_then_looked_at(fake)
    fake.scores = [[0.95, 0.02, 0.01, 0.02]]
    fake.closer_scores, fake.closer_blurred = view, [[True]]
    body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"]) == expected
    assert body["scores"]["green"] == pytest.approx(0.95)  # the first look's, kept or not
    # the box is the code's only where it kept the colour
    assert ("code_box" in body) == (expected[0] == "green")
    _, _, check = fake.calls[1].inputs
    assert b"".join(check.contents) == b"\x01"  # a colour checked: blurred codes looked for


async def test_a_blurred_codes_view_answers_no_refused_page(gw):
    http, fake = gw
    await refused_then_looked_at(fake, parameters=FINDER_RULE)
    fake.closer_finder, fake.closer_sharpness, fake.closer_blurred = [[True]], [[0.3]], [[True]]
    body = (await http.post(URL, json=as_json(encode("JPEG")))).json()  # its view: 0.995 green
    assert (body["status"], body["decided_by"]) == ("invalid", "threshold")
    assert "code_box" not in body


@pytest.mark.parametrize(("view", "answered"), [(0.99995, True), (0.995, False)])
async def test_a_page_with_almost_no_colour_seen_needs_a_near_certain_view(view, answered):
    parameters = {**CLOSER_RULE, "closer_look_min_colour_probability_unseen": "0.9999"}
    async with gateway() as (http, fake):
        await refused_then_looked_at(fake, parameters=parameters)
        fake.scores = [[0.02, 0.01, 0.01, 0.96]]  # under closer_look_min_first_colour
        fake.closer_scores = [[view, 1 - view, 0.0, 0.0]]
        body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    expected = ("green", "closer_look") if answered else ("invalid", "model")
    assert (body["status"], body["decided_by"]) == expected
    assert [call.model for call in fake.calls] == ["health_code_classifier", "health_code_closer"]


@pytest.mark.parametrize(
    ("view", "finder", "ink", "answered"),
    [
        ([[0.999, 0.0005, 0.0, 0.0005]], True, [[0.1, 0.7, 0.35]], True),  # a green QR code
        ([[0.999, 0.0005, 0.0, 0.0005]], False, [[0.1, 0.7, 0.35]], False),  # no finder squares
        ([[0.999, 0.0005, 0.0, 0.0005]], True, [[0.05, 0.05, 0.05]], False),  # a black code
        ([[0.999, 0.0005, 0.0, 0.0005]], True, None, False),  # no code decoded
        ([[0.0005, 0.999, 0.0, 0.0005]], True, [[0.1, 0.7, 0.35]], False),  # ink and view differ
        ([[0.98, 0.01, 0.0, 0.01]], True, [[0.1, 0.7, 0.35]], False),  # under the rule's bar
    ],
)
async def test_a_page_with_no_colour_seen_is_answered_where_its_codes_ink_confirms_the_view(
    view, finder, ink, answered
):
    parameters = {**CLOSER_RULE, "closer_look_min_colour_probability_unseen": "0.9999"}
    async with gateway() as (http, fake):
        await refused_then_looked_at(fake, parameters=parameters)
        fake.scores = [[0.02, 0.01, 0.01, 0.96]]  # under closer_look_min_first_colour
        fake.closer_scores, fake.closer_finder, fake.closer_ink = view, [[finder]], ink
        body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    expected = ("green", "closer_look") if answered else ("invalid", "model")
    assert (body["status"], body["decided_by"]) == expected
    assert body["scores"]["green"] == pytest.approx(view[0][0] if answered else 0.02)


async def test_a_costly_image_gets_no_closer_look():
    async with gateway(costly_decode_ms=0.001) as (http, fake):  # every image is costly here
        await refused_then_looked_at(fake)
        body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"]) == ("invalid", "threshold")
    assert [call.model for call in fake.calls] == ["health_code_classifier"]


@pytest.mark.parametrize("check", ["0.95", None])  # at the check's bar, and a config without it
async def test_a_colour_at_or_over_the_check_gets_no_closer_look(check):
    parameters = {k: v for k, v in CLOSER_RULE.items() if k != "closer_look_check_colours_below"}
    if check is not None:
        parameters["closer_look_check_colours_below"] = check
    async with gateway() as (http, fake):
        await refused_then_looked_at(fake, parameters=parameters)
        fake.scores = [[0.95, 0.02, 0.01, 0.02]]
        body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"]) == ("green", "model")
    assert [call.model for call in fake.calls] == ["health_code_classifier"]


@pytest.mark.parametrize(
    "case",
    [
        "no colour seen",
        "no colour seen, no unseen tier",
        "no rule in the config",
        "closer look not loaded",
        "setting off",
    ],
)
async def test_no_closer_look_is_taken(case):
    async with gateway(closer_look=case != "setting off") as (http, fake):
        await refused_then_looked_at(
            fake,
            parameters={k: v for k, v in CLOSER_RULE.items() if case != "no rule in the config"
                        or not k.startswith("closer")},
            index=CLOSER_READY[:1] if case == "closer look not loaded" else CLOSER_READY,
        )  # fmt: skip
        if case.startswith("no colour seen"):
            fake.scores = [[0.02, 0.01, 0.01, 0.96]]  # under closer_look_min_first_colour
        if case == "no colour seen, no unseen tier":  # `make train` chose none: over 1
            fake.parameters["health_code_classifier"] = {
                **CLOSER_RULE,
                "closer_look_min_colour_probability_unseen": "2",
            }
            await fake.triton.refresh()
        body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert body["status"] == "invalid"
    assert [call.model for call in fake.calls] == ["health_code_classifier"]


# --- the finder check ----------------------------------------------------------------------------

FINDER_RULE = {**CLOSER_RULE, "closer_look_min_sharpness_without_finder": "0.62"}
CONFIDENT_GREEN = [[0.9999, 0.00005, 0.00003, 0.00002]]  # over the code check's bar


@pytest.mark.parametrize(
    ("finder", "sharpness", "expected"),
    [
        (False, 0.8, ("invalid", "no_finder")),  # sharp, no finder squares: not a health code
        (False, 0.4, ("green", "model")),  # blurred: the finder squares may be there
        (True, 0.8, ("green", "model")),  # the view shows them
    ],
)
async def test_a_colour_with_no_finder_in_the_first_look_is_looked_at(finder, sharpness, expected):
    async with gateway() as (http, fake):  # the gateway decodes: its own finder check (none here)
        await refused_then_looked_at(fake, parameters=FINDER_RULE)
        fake.scores = CONFIDENT_GREEN
        fake.closer_finder, fake.closer_sharpness = [[finder]], [[sharpness]]
        body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"]) == expected
    assert body["scores"]["green"] == pytest.approx(0.9999)  # the model's, whatever decided
    assert [call.model for call in fake.calls] == ["health_code_classifier", "health_code_closer"]


async def test_a_closer_look_that_does_not_report_the_finder_check_withdraws_nothing():
    """A family whose locate model predates the check answers no FINDER or SHARPNESS."""
    async with gateway() as (http, fake):
        await refused_then_looked_at(fake, parameters=FINDER_RULE)
        fake.scores = CONFIDENT_GREEN
        body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"]) == ("green", "model")
    assert [call.model for call in fake.calls] == ["health_code_classifier", "health_code_closer"]


async def test_finder_squares_in_the_first_look_need_no_closer_look():
    async with gateway(decode="triton") as (http, fake):
        await refused_then_looked_at(fake, parameters=FINDER_RULE)
        fake.index = [("health_code", "1", "READY"), ("health_code_preprocess", "1", "READY"),
                      *CLOSER_READY]  # fmt: skip
        await fake.triton.refresh()
        fake.scores, fake.finder = [[0.95, 0.02, 0.01, 0.02]], [[True]]  # unsure, but a QR code
        body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"]) == ("green", "model")
    assert [call.model for call in fake.calls] == ["health_code"]


@pytest.mark.parametrize("sharpness", [0.8, 0.3])  # sharp; soft: finder squares are needed anyway
async def test_a_refused_page_whose_view_shows_no_finder_stays_refused(gw, sharpness):
    http, fake = gw
    await refused_then_looked_at(fake, parameters=FINDER_RULE)
    fake.closer_finder, fake.closer_sharpness = [[False]], [[sharpness]]  # the view's 0.995 green
    body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"]) == ("invalid", "threshold")
    assert body["scores"]["green"] == pytest.approx(0.6)  # the first look's


# --- the code's ink ------------------------------------------------------------------------------

GREEN_INK, BLACK_INK = [[0.1, 0.7, 0.35]], [[0.05, 0.05, 0.05]]
VIEW_REFUSES = [[0.4, 0.1, 0.1, 0.4]]  # under the closer look's bar


async def code_colours(http) -> float:
    """The closer looks counted as answered from their code's ink, from /metrics."""
    prefix = 'healthcode_closer_looks_total{outcome="code_colour"}'
    lines = (await http.get("/metrics")).text.splitlines()
    return next((float(line.split()[-1]) for line in lines if line.startswith(prefix)), 0.0)


@pytest.mark.parametrize(
    ("first", "ink", "expected"),
    [
        ([[0.6, 0.3, 0.05, 0.05]], GREEN_INK, ("green", "code_colour")),
        ([[0.6, 0.3, 0.05, 0.05]], BLACK_INK, ("invalid", "threshold")),  # a venue code
        ([[0.3, 0.6, 0.05, 0.05]], GREEN_INK, ("invalid", "threshold")),  # it saw yellow most
        ([[0.03, 0.01, 0.01, 0.95]], GREEN_INK, ("invalid", "model")),  # under the floor
        ([[0.6, 0.3, 0.05, 0.05]], None, ("invalid", "threshold")),  # no code decoded
    ],
)
async def test_a_refused_page_whose_decoded_code_is_inked_in_its_colour_answers_it(
    first, ink, expected
):
    unseen = {**CLOSER_RULE, "closer_look_min_colour_probability_unseen": "0.9999"}
    async with gateway() as (http, fake):
        await refused_then_looked_at(fake, parameters=unseen)  # every refused page looked at
        fake.scores, fake.closer_scores, fake.closer_ink = first, VIEW_REFUSES, ink
        before = await code_colours(http)
        body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
        after = await code_colours(http)
    assert (body["status"], body["decided_by"]) == expected
    assert body["scores"] == dict(zip(("green", "yellow", "red", "invalid"), first[0], strict=True))
    assert body["confidence"] == body["scores"][body["status"]]
    assert after == before + (expected[1] == "code_colour")
    assert [call.model for call in fake.calls] == ["health_code_classifier", "health_code_closer"]
    _, read_ink, _ = fake.calls[1].inputs  # under the floor not asked: only a view can answer
    assert b"".join(read_ink.contents) == (b"\x00" if max(first[0][:3]) < 0.05 else b"\x01")


async def test_no_ink_is_read_or_answered_where_the_closer_look_may_answer_no_colour():
    """A rule whose view bar is over 1 (a candidate that answers no colour) gets no ink answer."""
    never = {**CLOSER_RULE, "closer_look_min_colour_probability": "2"}
    async with gateway() as (http, fake):
        await refused_then_looked_at(fake, parameters=never)
        fake.closer_scores, fake.closer_ink = VIEW_REFUSES, GREEN_INK
        body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"]) == ("invalid", "threshold")
    _, read_ink, _ = fake.calls[1].inputs
    assert b"".join(read_ink.contents) == b"\x00"


async def test_a_colour_whose_decoded_code_is_inked_in_it_stands_however_its_view_looks():
    """The view frames a sharp square with no finder squares, but a QR code decoded in the page
    is inked in the answer's colour: a decoded code is a QR code."""
    async with gateway() as (http, fake):
        await refused_then_looked_at(fake, parameters=FINDER_RULE)
        fake.scores = CONFIDENT_GREEN
        fake.closer_finder, fake.closer_sharpness, fake.closer_ink = [[False]], [[0.8]], GREEN_INK
        body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"]) == ("green", "model")


@pytest.mark.parametrize("bar", ["2", None])  # written with no closer look; an older config
async def test_no_finder_check_without_its_bar(bar):
    parameters = {k: v for k, v in FINDER_RULE.items() if bar or "sharpness" not in k}
    if bar:
        parameters["closer_look_min_sharpness_without_finder"] = bar
    async with gateway() as (http, fake):
        await refused_then_looked_at(fake, parameters=parameters)
        fake.scores = CONFIDENT_GREEN
        body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
        assert (body["status"], body["decided_by"]) == ("green", "model")
        assert [call.model for call in fake.calls] == ["health_code_classifier"]
        # a refused page's view answers it with no finder squares seen
        fake.scores, fake.closer_finder, fake.closer_sharpness = (
            [[0.6, 0.3, 0.05, 0.05]],
            [[False]],
            [[0.8]],
        )
        body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"]) == ("green", "closer_look")


@pytest.mark.parametrize(
    ("finder", "with_finder", "bar", "expected"),
    [
        (True, "0.9", "0.99", ("green", "closer_look")),  # finder squares seen: the finder bar
        (False, "0.9", "0.99", ("invalid", "threshold")),  # none seen: the rule's (no finder)
        (True, "2", "0.99", ("invalid", "threshold")),  # no finder bar of its own (over 1)
        (True, "0.9", "2", ("invalid", "threshold")),  # the rule's bar over 1: no colour at all
    ],
)
async def test_a_view_whose_code_shows_finder_squares_answers_at_the_finder_bar(
    finder, with_finder, bar, expected
):
    parameters = {
        **FINDER_RULE,
        "closer_look_min_colour_probability": bar,
        "closer_look_min_colour_probability_with_finder": with_finder,
    }
    async with gateway() as (http, fake):
        await refused_then_looked_at(fake, parameters=parameters)
        fake.closer_scores = [[0.95, 0.01, 0.01, 0.03]]  # under the rule's 0.99
        fake.closer_finder, fake.closer_sharpness = [[finder]], [[0.3]]
        body = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert (body["status"], body["decided_by"]) == expected


async def test_a_closer_look_that_fails_leaves_the_first_answer(gw):
    http, fake = gw
    await refused_then_looked_at(fake)
    overloaded = InferenceServerException(
        "exceeds maximum queue size", status="StatusCode.UNAVAILABLE"
    )
    fake.errors = [None, overloaded]  # the first look answers, the closer look does not

    response = await http.post(URL, json=as_json(encode("JPEG")))
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["decided_by"]) == ("invalid", "threshold")


# --- refusals from the payload ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "aGVsbG8*d29ybGQ=",  # junk inside
        "aGVsbG8gd29ybGQ",  # missing padding
        "aGVs bG8=",  # whitespace
        "aGVsbG8=ü",  # not ASCII
        "data:image/png,aGVsbG8=",  # data URL that is not base64
    ],
)
async def test_invalid_base64_is_refused_with_invalid_base64(http, text):
    response = await http.post(URL, json={"base64": text})
    assert response.status_code == 400
    assert error_code(response) == "invalid_base64"


@pytest.mark.parametrize("data", [b"hello world, not an image", b"BMW"])
async def test_bytes_that_are_not_an_image_are_refused_with_not_an_image(http, data):
    response = await http.post(URL, json=as_json(data))
    assert response.status_code == 400
    assert error_code(response) == "not_an_image"


async def test_an_empty_image_is_refused_with_empty_image(http):
    response = await http.post(URL, json={"base64": ""})
    assert response.status_code == 400
    assert error_code(response) == "empty_image"


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "BMP", "TIFF"])
async def test_other_image_formats_are_refused_with_unsupported_image_format(http, fmt):
    response = await http.post(URL, json=as_json(encode(fmt)))
    assert response.status_code == 415
    assert error_code(response) == "unsupported_image_format"


@pytest.mark.parametrize(
    "image",
    [
        png_claiming(30_000, 30_000),  # Pillow's own bomb error
        png_claiming(10_000, 10_000),  # Pillow's warning zone: must not leak a warning
        png_claiming(8_000, 8_000),  # under Pillow's limit, over ours
        jpeg_claiming(30_000, 30_000),
    ],
    ids=["png-30k", "png-10k", "png-8k", "jpeg-30k"],
)
async def test_a_header_claiming_too_many_pixels_is_refused_with_image_too_large(gw, image):
    http, fake = gw
    response = await http.post(URL, json=as_json(image))
    assert response.status_code == 413
    assert error_code(response) == "image_too_large"
    assert fake.calls == []


@pytest.mark.parametrize("image", [b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"\xff\xd8\xff" + b"?" * 9])
async def test_an_unreadable_header_is_refused_with_corrupt_image(http, image):
    response = await http.post(URL, json=as_json(image))
    assert response.status_code == 400
    assert error_code(response) == "corrupt_image"


async def test_a_body_over_the_limit_is_refused_from_its_content_length(http):
    response = await http.post(
        URL, content=b"\xff" * (MAX_BODY_BYTES + 1), headers={"content-type": "image/jpeg"}
    )
    assert response.status_code == 413
    assert error_code(response) == "payload_too_large"


async def test_a_chunked_body_over_the_limit_is_refused_and_the_rest_dropped_not_kept(http):
    kept = []

    async def chunks():
        for _ in range(100):
            yield b"\xff" * 10_000
        kept.append("all sent")  # the client could send it all: nothing was reset

    response = await http.post(URL, content=chunks(), headers={"content-type": "image/jpeg"})
    assert response.status_code == 413
    assert error_code(response) == "payload_too_large"
    assert response.headers["connection"] == "close"
    assert kept == ["all sent"]


async def test_a_body_that_arrives_too_slowly_is_refused_with_body_timeout():
    async def slow():
        yield b"\xff\xd8\xff"
        await asyncio.sleep(5)
        yield b"never"

    async with gateway(request_timeout_s=0.2) as (http, _):
        response = await http.post(URL, content=slow(), headers={"content-type": "image/jpeg"})
        assert response.status_code == 408
        assert error_code(response) == "body_timeout"


@pytest.mark.parametrize("content_type", ["text/plain", "image/gif", "multipart/form-data", None])
async def test_other_content_types_are_refused_with_unsupported_media_type(http, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = await http.post(URL, content=encode("JPEG"), headers=headers)
    assert response.status_code == 415
    assert error_code(response) == "unsupported_media_type"


@pytest.mark.parametrize("body", [b"{", b"", b"[1, 2]", b'"text"', b"\xff\xd8\xff"])
async def test_malformed_json_is_refused_with_invalid_json(http, body):
    response = await http.post(URL, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert error_code(response) == "invalid_json"


async def test_a_json_object_without_base64_is_refused_with_missing_field(http):
    response = await http.post(URL, json={"image": "aGVsbG8="})
    assert response.status_code == 422
    assert error_code(response) == "missing_field"


@pytest.mark.parametrize("value", [None, 12, ["aGVsbG8="]])
async def test_a_base64_field_that_is_not_a_string_is_refused_with_invalid_field(http, value):
    response = await http.post(URL, json={"base64": value})
    assert response.status_code == 422
    assert error_code(response) == "invalid_field"


async def test_an_unknown_usage_is_404_unknown_usage_without_reading_the_body(gw):
    http, fake = gw
    response = await http.post("/analysis/passport", json=as_json(encode("JPEG")))
    assert response.status_code == 404
    assert error_code(response) == "unknown_usage"
    assert fake.calls == []


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [("GET", "/nowhere", 404, "not_found"), ("GET", URL, 405, "method_not_allowed")],
)
async def test_routing_errors_use_the_error_shape(http, method, path, status, code):
    response = await http.request(method, path)
    assert response.status_code == status
    assert error_code(response) == code


# --- refusals from Triton ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (unavailable(), 503, "triton_unavailable"),
        (
            InferenceServerException("Deadline Exceeded", "StatusCode.DEADLINE_EXCEEDED"),
            504,
            "deadline_exceeded",
        ),
        (
            InferenceServerException(
                "in ensemble 'health_code', [corrupt_image] cannot decode JPEG: bad Huffman table",
                "StatusCode.INVALID_ARGUMENT",
            ),
            400,
            "corrupt_image",
        ),
        (
            InferenceServerException("[image_too_large] 9000x9000 pixels", "StatusCode.INTERNAL"),
            413,
            "image_too_large",
        ),
        (unavailable("Exceeds maximum queue size"), 503, "overloaded"),
        (
            InferenceServerException("out of memory", "StatusCode.RESOURCE_EXHAUSTED"),
            503,
            "overloaded",
        ),
        (
            InferenceServerException("/opt/secret/model.py line 3: boom", "StatusCode.INTERNAL"),
            502,
            "inference_failed",
        ),
    ],
)
async def test_triton_errors_map_to_statuses_and_codes(error, status, code):
    async with gateway(retry_delays_s=()) as (http, fake):
        fake.errors = [error]
        response = await http.post(URL, json=as_json(encode("JPEG")))
    assert response.status_code == status
    assert error_code(response) == code
    assert ("retry-after" in response.headers) == (status == 503)
    assert "/opt/secret" not in response.text


async def test_unavailable_triton_is_retried_until_it_answers():
    async with gateway(retry_delays_s=(0.001, 0.001, 0.001)) as (http, fake):
        fake.errors = [unavailable(), unavailable("Request for unknown model: 'health_code'")]
        response = await http.post(URL, json=as_json(encode("JPEG")))
    assert response.status_code == 200, response.text
    assert len(fake.calls) == 3


async def test_unavailable_triton_is_a_503_with_retry_after_once_retries_run_out():
    async with gateway(retry_delays_s=(0.001, 0.001)) as (http, fake):
        fake.errors = [unavailable()] * 3
        response = await http.post(URL, json=as_json(encode("JPEG")))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert len(fake.calls) == 3


async def test_an_overloaded_triton_is_not_retried(gw):
    http, fake = gw
    fake.errors = [unavailable("Exceeds maximum queue size")]
    response = await http.post(URL, json=as_json(encode("JPEG")))
    assert error_code(response) == "overloaded"
    assert len(fake.calls) == 1


async def test_scores_of_an_unexpected_shape_are_an_inference_failure(gw):
    http, fake = gw
    fake.scores = [[0.5, 0.5]]
    response = await http.post(URL, json=as_json(encode("JPEG")))
    assert response.status_code == 502
    assert error_code(response) == "inference_failed"


async def test_an_unexpected_exception_is_a_500_in_the_error_shape_without_a_traceback(gw):
    http, fake = gw
    fake.errors = [RuntimeError("secret internals")]
    response = await http.post(URL, json=as_json(encode("JPEG")))
    assert response.status_code == 500
    assert error_code(response) == "internal_error"
    assert "secret" not in response.text


async def test_requests_beyond_max_in_flight_are_shed_with_503_before_their_body_is_read():
    async with gateway(max_in_flight=1) as (http, fake):
        fake.gate = asyncio.Event()
        first = asyncio.create_task(http.post(URL, json=as_json(encode("JPEG"))))
        await asyncio.wait_for(fake.entered.wait(), 5)
        shed = await http.post(URL, json=as_json(encode("JPEG")))
        fake.gate.set()
        assert shed.status_code == 503
        assert shed.headers["retry-after"] == "1"
        assert error_code(shed) == "overloaded"
        assert (await first).status_code == 200
        assert len(fake.calls) == 1


# --- operations -------------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["abc-123_X.y", "a" * 64])
async def test_a_sane_client_request_id_is_echoed_in_header_and_body(http, given):
    response = await http.post(URL, json=as_json(encode("JPEG")), headers={"x-request-id": given})
    assert response.headers["x-request-id"] == given
    assert response.json()["request_id"] == given


@pytest.mark.parametrize("given", ["has space", "a" * 65, "semi;colon", ""])
async def test_an_insane_client_request_id_is_replaced(http, given):
    response = await http.post("/analysis/nope", json={}, headers={"x-request-id": given})
    assert HEX_ID.fullmatch(response.headers["x-request-id"])
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_healthz_answers_ok_without_asking_triton(gw):
    http, fake = gw
    fake.server_ready = unavailable()
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "x-request-id" in response.headers


async def test_readyz_is_200_when_triton_and_every_model_are_ready(http):
    response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


@pytest.mark.parametrize(
    ("server_ready", "models_ready", "not_ready"),
    [
        (True, {"health_code_classifier": False}, ["health_code_classifier"]),
        (False, {"health_code_classifier": True}, ["triton"]),
        (unavailable(), {}, ["triton", "health_code_classifier"]),
    ],
)
async def test_readyz_is_503_naming_what_is_not_ready(gw, server_ready, models_ready, not_ready):
    http, fake = gw
    fake.server_ready, fake.models_ready = server_ready, models_ready
    response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["not_ready"] == not_ready


async def test_metrics_count_requests_by_usage_and_status_code(http):
    await http.post(URL, json=as_json(encode("JPEG")))
    await http.post(URL, json={"base64": "*"})
    await http.post("/analysis/who-knows", json={})
    response = await http.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'healthcode_requests_total{code="200",usage="health-code"} 1.0' in text
    assert 'healthcode_requests_total{code="400",usage="health-code"} 1.0' in text
    assert 'healthcode_requests_total{code="404",usage="unknown"} 1.0' in text
    assert 'healthcode_triton_duration_seconds_count{model="health_code_classifier"} 1.0' in text
    assert 'healthcode_request_duration_seconds_count{usage="health-code"} 2.0' in text
    assert "healthcode_requests_in_flight 0.0" in text


async def test_the_openapi_schema_documents_both_bodies_and_the_error_shape(http):
    schema = (await http.get("/openapi.json")).json()
    operation = schema["paths"]["/analysis/{usage}"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"application/json", "image/jpeg", "image/png"}
    assert content["application/json"]["schema"]["required"] == ["base64"]
    assert {"200", "400", "413", "415", "422", "503"} <= set(operation["responses"])
    assert "ErrorResponse" in schema["components"]["schemas"]
    assert (await http.get("/docs")).status_code == 200


async def test_the_lifespan_closes_the_triton_client():
    async with gateway() as (_, fake):
        assert not fake.closed
    assert fake.closed
