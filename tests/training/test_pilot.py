"""The pilot: candidate geometries fine-tuned from a graph's weights, reported by the rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training import pilot
from training.dataset import Dataset
from training.metrics import INVALID
from training.render import LABELS

COMMITTED = (
    Path(__file__).resolve().parents[2] / "model_repository/health_code_classifier/2/model.onnx"
)


def test_a_set_is_reported_at_a_threshold_with_its_photos_counted_apart():
    kinds = np.array(["screen/home", "screen/home+photo", "trip", "trip+photo"])
    labels = np.array([LABELS.index("green"), LABELS.index("red"), INVALID, INVALID])
    scores = np.full((4, len(LABELS)), 0.01)
    scores[0, LABELS.index("green")] = 0.97  # right at the argmax, refused at 0.98
    scores[1, LABELS.index("red")] = 0.99  # right either way
    scores[2, INVALID] = 0.97
    scores[3, LABELS.index("green")] = 0.99  # a trip card photo answered green: a false colour
    data = Dataset(np.zeros((4, 3, 2, 2), np.uint8), labels, kinds)

    argmax = pilot.report("test", scores, data)
    ruled = pilot.report("test", scores, data, threshold=0.98)

    assert (argmax["right"], argmax["photos_right"], argmax["photos"]) == (3, 1, 2)
    assert argmax["invalid_as_colour"] == 0.5
    assert (ruled["right"], ruled["photos_right"], ruled["threshold"]) == (2, 1, 0.98)


def test_candidates_fine_tuned_from_the_shipped_graph_are_reported_before_and_after(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(pilot, "DATA_DIR", tmp_path)
    argv = ["--init", str(COMMITTED), "--lr", "3e-4", "--epochs", "1", "--train", "16",
            "--train-seed", "320000", "--eval", "8", "--calib", "16", "--workers", "1",
            "--threads", "1", "--candidates", "v2:400x240", "v2:480x288"]  # fmt: skip
    rows = pilot.run(pilot.parse_args(argv), log=lambda line: None)

    sets = ("calib", *pilot.EVAL_SPLITS)
    per_stage = len(sets) * (2 + len(pilot.FIXED_THRESHOLDS))  # argmax, fixed, chosen
    assert len(rows) == 2 * 2 * per_stage
    for cand in ("v2:400x240", "v2:480x288"):
        for stage in ("before", "after"):
            mine = [r for r in rows if r["candidate"] == cand and r["stage"] == stage]
            assert [r["set"] for r in mine[:: per_stage // len(sets)]] == list(sets)
            assert {r["images"] for r in mine if r["set"] != "calib"} == {8}
            # Each set at the argmax, the fixed thresholds and the one the calibration split chose.
            rules = {tuple(r["threshold"] for r in mine if r["set"] == s) for s in sets}
            assert len(rules) == 1
            (rule,) = rules
            assert rule[:-1] == (None, *pilot.FIXED_THRESHOLDS) and 0.40 <= rule[-1] <= 0.99
    macs = {r["candidate"]: r["macs"] for r in rows}
    assert macs["v2:480x288"] > 1.4 * macs["v2:400x240"]
    # The shipped graph recognises its own geometry's fresh test pages before any training.
    before = next(r for r in rows if r["candidate"] == "v2:400x240" and r["set"] == "test")
    assert before["right"] >= 6
    assert sorted(p.name.split("-")[1] for p in tmp_path.glob("pilot-*.pkl")) == [
        "calib",
        "holdout",
        "holdout",
        "test",
        "train",
    ]
