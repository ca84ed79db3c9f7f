"""Metrics: accuracy, per-class precision and recall, confusion, per-group accuracy, calibration."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.render import LABELS

ECE_BINS = 15


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def expected_calibration_error(scores: np.ndarray, labels: np.ndarray) -> float:
    """ECE over 15 equal-width bins of the top score: sum of |accuracy - confidence| x bin share."""
    confidence, correct = scores.max(axis=1), scores.argmax(axis=1) == labels
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    gap = 0.0
    for b in np.unique(bins):
        mask = bins == b
        gap += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(gap)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood, on a log grid from 0.25 to 8."""
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 241))
    rows = np.arange(len(labels))

    def nll(t: float) -> float:
        return float(-np.log(softmax(logits, t)[rows, labels] + 1e-12).mean())

    return float(min(grid, key=nll))


@dataclass
class Report:
    """Metrics of predictions against labels."""

    accuracy: float
    confusion: np.ndarray  # rows: true class, columns: predicted class
    kind_accuracy: dict[str, tuple[float, int]]  # group -> (accuracy, images)
    ece: float

    @property
    def precision(self) -> np.ndarray:
        return np.diag(self.confusion) / np.maximum(self.confusion.sum(axis=0), 1)

    @property
    def recall(self) -> np.ndarray:
        return np.diag(self.confusion) / np.maximum(self.confusion.sum(axis=1), 1)

    def format(self, groups: bool = True) -> str:
        """Render the report as Markdown tables."""
        out = [
            f"accuracy: {self.accuracy:.4f} ({int(np.trace(self.confusion))}/"
            f"{int(self.confusion.sum())}), ECE {self.ece:.4f}",
            "",
            "| true \\ predicted | " + " | ".join(LABELS) + " | recall |",
            "|---" * (len(LABELS) + 2) + "|",
        ]
        for i, name in enumerate(LABELS):
            cells = " | ".join(str(int(c)) for c in self.confusion[i])
            out.append(f"| {name} | {cells} | {self.recall[i]:.4f} |")
        out.append("| precision | " + " | ".join(f"{p:.4f}" for p in self.precision) + " | |")
        if groups:
            out += ["", "| images | accuracy | count |", "|---|---|---|"]
            out += [f"| {k} | {a:.4f} | {n} |" for k, (a, n) in sorted(self.kind_accuracy.items())]
        return "\n".join(out)

    def to_json(self) -> dict[str, object]:
        return {
            "accuracy": self.accuracy,
            "ece": self.ece,
            "confusion": self.confusion.tolist(),
            "precision": dict(zip(LABELS, self.precision.round(6).tolist(), strict=True)),
            "recall": dict(zip(LABELS, self.recall.round(6).tolist(), strict=True)),
            "groups": {k: {"accuracy": a, "images": n} for k, (a, n) in self.kind_accuracy.items()},
        }


def _groups(labels: np.ndarray, kinds: np.ndarray) -> dict[str, np.ndarray]:
    """Masks per class and kind ("invalid document") and per app layout ("layout hero")."""
    keys = np.array([f"{LABELS[y]} {k.split('/')[0]}" for y, k in zip(labels, kinds, strict=True)])
    layouts = np.array([f"layout {k.split('/')[1]}" if "/" in k else "" for k in kinds])
    groups = {str(k): keys == k for k in np.unique(keys)}
    groups.update({str(k): layouts == k for k in np.unique(layouts) if k})
    return groups


def evaluate(scores: np.ndarray, labels: np.ndarray, kinds: np.ndarray) -> Report:
    """Compare class scores (N, 4) with true labels (N,); break accuracy down by image kind."""
    predicted = scores.argmax(axis=1)
    confusion = np.zeros((len(LABELS), len(LABELS)), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    correct = predicted == labels
    by_kind = {
        name: (float(correct[mask].mean()), int(mask.sum()))
        for name, mask in _groups(labels, kinds).items()
    }
    ece = expected_calibration_error(scores, labels)
    return Report(float(correct.mean()), confusion, by_kind, ece)
