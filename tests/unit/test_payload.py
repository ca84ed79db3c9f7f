"""payload.decode_json_image: the one-field fast path answers every body as the JSON parser does."""

from __future__ import annotations

import base64
import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import errors, payload

IMAGE = bytes(range(256)) * 3
B64 = base64.b64encode(IMAGE)


def outcome(decode, body: bytes) -> bytes | str:
    """The image, or the error code the client would see."""
    try:
        return decode(body)
    except errors.GatewayError as e:
        return e.code


def same_as_parser(body: bytes) -> bytes | str:
    served = outcome(payload.decode_json_image, body)
    assert served == outcome(payload._parsed_image, body), body[:120]
    return served


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"base64": B64.decode()}).encode(),  # Python's json: a space after the colon
        orjson.dumps({"base64": B64.decode()}),  # no whitespace
        b' \r\n\t{ "base64" :\n"' + B64 + b'"\t}\n ',
        orjson.dumps({"base64": "data:image/png;base64," + B64.decode()}),
    ],
)
def test_the_bodies_clients_send_take_the_fast_path(body: bytes) -> None:
    assert payload._one_field_image(body) == IMAGE
    assert same_as_parser(body) == IMAGE


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"base64":"' + B64 + b'","y":"' + B64 + b'"}', IMAGE),  # a second field
        (b'{"base64":"data:x","y":"a;base64,' + B64 + b'"}', "invalid_base64"),
        (b'{"base64":"data:" : ";base64,' + B64 + b'"}', "invalid_json"),
        (b'{"base64":"data:\\";base64,' + B64 + b'"}', IMAGE),  # the parser's prefix: data:";
        (b'{"base64":"data:\\x;base64,' + B64 + b'"}', "invalid_json"),  # no such escape
        (b'{"base64":"' + B64 + b'","base64":"AAAA"}', base64.b64decode("AAAA")),  # last wins
        (b'{"base64":"' + B64.replace(b"/", b"\\/") + b'"}', IMAGE),  # an escaped solidus
        (b'{"base64":"' + B64 + b'"} x', "invalid_json"),
        (b'{"base64":"' + B64 + b'"}}', "invalid_json"),
        (b'\xef\xbb\xbf{"base64":"' + B64 + b'"}', "invalid_json"),  # a byte order mark
        (b'{"base64":"' + B64 + b'"\x0b}', "invalid_json"),  # \v is not JSON whitespace
        (b'{"base64":"data:image/\x01png;base64,' + B64 + b'"}', "invalid_json"),
        (b'{"base64":"data:image/\xffpng;base64,' + B64 + b'"}', "invalid_json"),
        ('{"base64":"data:image/pngé;base64,'.encode() + B64 + b'"}', IMAGE),
        (b'{"base64":"data:image/png,' + B64 + b'"}', "invalid_base64"),
        (b'{"base64":"' + B64[:-1] + b'"}', "invalid_base64"),
        (b'{"base64":"' + B64[:40] + b"\n" + B64[40:] + b'"}', "invalid_json"),
        (b'{"base64":"' + B64[:40] + b"\\n" + B64[40:] + b'"}', "invalid_base64"),
        (b'{"base64":""}', b""),
        (b'{"base64":1}', "invalid_field"),
        (b'{"image":"' + B64 + b'"}', "missing_field"),
        (b'["' + B64 + b'"]', "invalid_json"),
        (b'{"base64":"' + B64, "invalid_json"),
    ],
)
def test_every_other_body_is_answered_as_the_parser_answers_it(
    body: bytes, expected: bytes | str
) -> None:
    assert same_as_parser(body) == expected


_PIECES = st.sampled_from(
    [
        *(b" ", b"\n", b"\t", b"\r", b"\x0b", b"{", b"}", b'"', b"\\", b":", b",", b"=", b"data:"),
        *(b"base64", b"image/png;base64,", b";base64", b"\xc3\xa9", b"\xff", b"\x00", b"AA=="),
        B64[:8],
    ]
)


@given(st.lists(_PIECES, max_size=12), st.lists(_PIECES, max_size=6))
def test_bodies_near_the_fast_paths_shape_are_answered_as_the_parser_answers_them(
    inside: list[bytes], around: list[bytes]
) -> None:
    # Mostly the one-field shape, with junk inside the string and around the object.
    same_as_parser(b"".join(around[:3]) + b'{"base64":"' + b"".join(inside) + b'"}')
    same_as_parser(b'{"base64":"' + b"".join(inside) + b'"' + b"".join(around) + b"}")
