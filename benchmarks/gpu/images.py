"""The images of the GPU run: rendered from fixed seeds, plus the committed seed screenshot.

Every kind the preprocess model routes differently is here: colour JPEG screenshots and photos
(the GPU's), and PNGs, grey, CMYK, progressive and sideways (EXIF) JPEGs (the CPU's), and one
JPEG damaged behind a valid header (where nvJPEG and the CPU's strict decode may disagree).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import ExifTags, Image

from benchmarks.systems import SEED_JPEG
from training.render import LABELS, render

SEED = 91_000  # seeds no training split or test uses
COLOURS = LABELS[:3]
MANIFEST = "manifest.json"


def _reencode(data: bytes, **options: object) -> bytes:
    out = io.BytesIO()
    with Image.open(io.BytesIO(data)) as img:
        mode = options.pop("mode", "RGB")
        img.convert(str(mode)).save(out, "JPEG", quality=90, **options)
    return out.getvalue()


def _damaged(data: bytes) -> bytes:
    """40 bytes of the scan overwritten: header and end intact (the CPU says corrupt_image)."""
    middle = (data.index(b"\xff\xda") + len(data)) // 2
    return data[:middle] + b"\x5a" * 40 + data[middle + 40 :]


def _sideways(data: bytes) -> bytes:
    """The screenshot stored turned 90 degrees, with the EXIF orientation that turns it back."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # stored turned left: turn right to show
    out = io.BytesIO()
    with Image.open(io.BytesIO(data)) as img:
        stored = img.convert("RGB").transpose(Image.Transpose.ROTATE_90)
        stored.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def cases() -> list[tuple[str, str, str, bytes]]:
    """(name, label, route, bytes): route is the path the GPU config should take ("gpu"/"cpu")."""
    out = []
    for i, label in enumerate(COLOURS):
        for j, (w, h, q) in enumerate(((1080, 2340, 85), (1440, 3200, 90))):
            shot = render(
                label,
                SEED + 10 * i + j,
                fmt="jpeg",
                photo=False,
                crop=False,
                width=w,
                height=h,
                quality=q,
            )
            out.append((f"screen-{label}-{w}x{h}.jpg", label, "gpu", shot))
        photo = render(label, SEED + 100 + i, fmt="jpeg", photo=True)
        out.append((f"photo-{label}.jpg", label, "gpu", photo))
        png = render(label, SEED + 200 + i, fmt="png", photo=False, width=720, height=1600)
        out.append((f"screen-{label}.png", label, "cpu", png))
    for k, kind in enumerate(("screen", "payment", "document")):
        other = render("invalid", SEED + 300 + k, fmt="jpeg", kind=kind, photo=False)
        out.append((f"invalid-{kind}.jpg", "invalid", "gpu", other))
    out.append(("seed-1440x3200.jpg", "green", "gpu", SEED_JPEG.read_bytes()))
    base = render("green", SEED + 400, fmt="jpeg", photo=False, crop=False, quality=95)
    out += [
        ("grey-green.jpg", "green", "cpu", _reencode(base, mode="L")),
        ("cmyk-green.jpg", "green", "cpu", _reencode(base, mode="CMYK")),
        ("progressive-green.jpg", "green", "gpu", _reencode(base, progressive=True)),
        ("sideways-green.jpg", "green", "cpu", _sideways(base)),
        ("damaged-green.jpg", "green", "damaged", _damaged(base)),
    ]
    return out


def write(dest: Path) -> list[dict]:
    """Write the images and their manifest (file, label, route) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    manifest = []
    for name, label, route, data in cases():
        (dest / name).write_bytes(data)
        manifest.append({"file": name, "label": label, "route": route, "bytes": len(data)})
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest
