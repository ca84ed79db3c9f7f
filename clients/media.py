"""The client side's one content-type sniff: what a JPEG or PNG body is sent as.

The server's own format checks live in the model repository's imaging.py; the client package
cannot import the server, so this small table is its own.
"""

from __future__ import annotations

CONTENT_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})


def content_type(data: bytes) -> str:
    """image/jpeg or image/png from the magic bytes; application/octet-stream otherwise."""
    for magic, kind in CONTENT_TYPES.items():
        if data.startswith(magic):
            return kind
    return "application/octet-stream"
