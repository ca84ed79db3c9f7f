"""`python -m benchmarks.recognition`: the served classifier on independent screens and photos.

The pages come from benchmarks/code_screens.py (drawn without training/), each sent as a
screenshot (PNG or JPEG 90), a re-saved screenshot (shrunk, JPEG 50-75) and a phone photo of the
screen (benchmarks.time_screens.encode) to a real `healthcode serve` (embedded Triton + gateway)
as a raw image body. Reports, per kind of image: right answers; invalid pages answered as a
colour (the error that must stay rare: issue 11 allows one in 270); colour recall; what each
drawn page kind got (colour codes split by QR density: "coarse" is versions 1-2); what decided
the answers (model, threshold, closer_look, code_colour, ...); and the same from the answers'
scores at other thresholds of the decision rule (HEALTHCODE_MIN_COLOUR_PROBABILITY), so that an
operator sees the trade-off on pages the model never saw. An answer from the closer look
carries its view's scores, so the curve is exact for the first look and approximate for those.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import numpy as np

from benchmarks import time_screens
from benchmarks.code_screens import (
    LABELS,
    Page,
    status_page,
    symbol_page,
    wider_page,
    written_page,
)
from benchmarks.systems import gateway_triton
from gateway.classification import classify

KINDS = ("screenshot", "resaved", "photo")
THRESHOLDS = (0.5, 0.66, 0.8, 0.9, 0.95)
COARSE = 25  # modules a side: QR versions 1 and 2
# the sets benchmarks.code_screens draws
SCREENS = {
    "status": status_page,
    "wider": wider_page,
    "symbols": symbol_page,
    "written": written_page,
}


def case(kind: str, i: int, seed: int, screens: str = "status") -> tuple[bytes, Page]:
    """Page i as that kind of image; a page's seed fixes it across kinds."""
    rng = random.Random(f"{seed}/{i}")
    page = SCREENS[screens](rng, LABELS[i % len(LABELS)])
    return time_screens.encode(page.image, kind, rng), page


def cases(kind: str, n: int, seed: int, screens: str = "status") -> list[tuple[bytes, Page]]:
    """(image bytes, page) for pages 0 to n - 1."""
    return [case(kind, i, seed, screens) for i in range(n)]


async def classify_all(base_url: str, images: list[bytes], concurrency: int = 4) -> list[dict]:
    """POST each image to /analysis/health-code; the answers in order."""
    answers: list[dict] = [{}] * len(images)
    queue = list(enumerate(images))
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

        async def worker() -> None:
            while queue:
                i, data = queue.pop()
                media = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
                r = await client.post(
                    "/analysis/health-code", content=data, headers={"content-type": media}
                )
                r.raise_for_status()
                answers[i] = r.json()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers


def answer_at(scores: dict[str, float], threshold: float) -> str:
    """The gateway's decision rule at another threshold, from served scores."""
    return classify(np.array(list(scores.values())), tuple(scores), "", threshold).status


def score(pages: list[Page], answers: list[dict]) -> dict:
    labels = [p.label for p in pages]
    invalid = [i for i, label in enumerate(labels) if label == "invalid"]
    colour = [i for i, label in enumerate(labels) if label != "invalid"]
    status = [a["status"] for a in answers]
    by_drawn: dict[str, Counter] = defaultdict(Counter)
    for page, s in zip(pages, status, strict=True):
        density = "" if not page.modules else "/coarse" if page.modules <= COARSE else "/dense"
        by_drawn[page.drawn + density][s] += 1

    def added(decided_by: str) -> dict[str, int]:
        """The answers so decided: right, and invalid pages answered a colour."""
        so = [i for i, a in enumerate(answers) if a["decided_by"] == decided_by]
        return {
            "right": sum(status[i] == labels[i] for i in so),
            "invalid_as_colour": sum(labels[i] == "invalid" for i in so),
        }

    curve = {}
    for t in THRESHOLDS:
        at = [answer_at(a["scores"], t) for a in answers]
        curve[f"{t:.2f}"] = {
            "right": sum(a == label for a, label in zip(at, labels, strict=True)),
            "invalid_as_colour": sum(at[i] != "invalid" for i in invalid),
            "colour_right": sum(at[i] == labels[i] for i in colour),
        }
    return {
        "images": len(labels),
        "right": sum(s == label for s, label in zip(status, labels, strict=True)),
        "invalid": len(invalid),
        "invalid_as_colour": sum(status[i] != "invalid" for i in invalid),
        "colour": len(colour),
        "colour_right": sum(status[i] == labels[i] for i in colour),
        "decided_by": dict(Counter(a["decided_by"] for a in answers)),
        # What the closer look added, from its view or its code's ink: without it, these answers
        # would have been "invalid".
        "from_closer_look": added("closer_look"),
        "from_code_colour": added("code_colour"),
        "by_drawn": {d: dict(c) for d, c in sorted(by_drawn.items())},
        "rule_curve": curve,
    }


def measure(
    base_url: str, kinds: list[str], n: int, seed: int, screens: str = "status"
) -> dict[str, dict]:
    """Send n pages as each kind of image to the service at base_url; score its answers."""
    out = {}
    for kind in kinds:
        batch = cases(kind, n, seed, screens)
        answers = asyncio.run(classify_all(base_url, [data for data, _ in batch]))
        out[kind] = r = score([page for _, page in batch], answers)
        print(
            f"{kind}: {r['right']}/{r['images']} right; invalid as a colour "
            f"{r['invalid_as_colour']}/{r['invalid']}; colours right "
            f"{r['colour_right']}/{r['colour']}",
            flush=True,
        )
        for drawn, answered in r["by_drawn"].items():
            print(f"    {drawn}: {answered}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.recognition", description=__doc__)
    parser.add_argument("--n", type=int, default=400, help="pages per kind of image")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument(
        "--screens",
        choices=sorted(SCREENS),
        default="status",
        help="which of benchmarks.code_screens' sets to draw: 'status' (issue 11's look-alikes; "
        "every seed in NOTES.md before 2026-12-06 used it) or 'wider' (other layouts, emblems, "
        "tinted pages, payment codes, codes in no status colour, calendars) or 'symbols' (the "
        "wider set's colour pages; as invalid pages, status-coloured 2D symbols that are not QR "
        "codes) or 'written' (as 'symbols', with Aztec, Data Matrix and PDF417 codes zxing-cpp "
        "writes)",
    )
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument(
        "--model-repository",
        type=Path,
        help="serve this repository instead of the project's: a candidate classifier (its graph "
        "and its rule in config.pbtxt) measured before it is published",
    )
    args = parser.parse_args(argv)
    results: dict = {"n": args.n, "seed": args.seed, "screens": args.screens}
    settings: dict[str, str] = {}
    if args.model_repository:
        settings["model_repository"] = str(args.model_repository.resolve())
        results["model_repository"] = settings["model_repository"]
    with (
        tempfile.TemporaryDirectory() as tmp,
        gateway_triton(Path(tmp) / "serve.log", **settings) as svc,
    ):
        results["kinds"] = measure(
            svc.base_url, args.kinds.split(","), args.n, args.seed, args.screens
        )
    text = json.dumps(results, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
