"""Test metrics: accuracy, per-class precision and recall, confusion matrix, per-kind accuracy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.render import LABELS


@dataclass
class Report:
    """Metrics of predictions against labels."""

    accuracy: float
    confusion: np.ndarray  # rows: true class, columns: predicted class
    kind_accuracy: dict[str, tuple[float, int]]  # group -> (accuracy, images)

    @property
    def precision(self) -> np.ndarray:
        return np.diag(self.confusion) / np.maximum(self.confusion.sum(axis=0), 1)

    @property
    def recall(self) -> np.ndarray:
        return np.diag(self.confusion) / np.maximum(self.confusion.sum(axis=1), 1)

    def format(self) -> str:
        """Render the report as Markdown tables."""
        out = [
            f"accuracy: {self.accuracy:.4f} ({int(np.trace(self.confusion))}/"
            f"{int(self.confusion.sum())})",
            "",
            "| true \\ predicted | " + " | ".join(LABELS) + " | recall |",
            "|---" * (len(LABELS) + 2) + "|",
        ]
        for i, name in enumerate(LABELS):
            cells = " | ".join(str(int(c)) for c in self.confusion[i])
            out.append(f"| {name} | {cells} | {self.recall[i]:.4f} |")
        out.append("| precision | " + " | ".join(f"{p:.4f}" for p in self.precision) + " | |")
        out += ["", "| images | accuracy | count |", "|---|---|---|"]
        out += [f"| {k} | {a:.4f} | {n} |" for k, (a, n) in sorted(self.kind_accuracy.items())]
        return "\n".join(out)


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
    return Report(float(correct.mean()), confusion, by_kind)
