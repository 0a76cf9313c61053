"""The ILSVRC classification protocol: top-k labels, flat error, submission files.

Semantics follow the ILSVRC devkit's ``eval_flat``: one ground-truth label per
image; a prediction is a row of up to five labels, most confident first; an
image is an error at ``k`` when none of its first ``k`` labels equals the truth.
Short rows are padded with a label that never matches, labels past the fifth
are ignored, a repeated label simply wastes its slot, and a row-count mismatch
is an error. Errors are returned in percent.

Scores become labels by sorting each row in descending order with ties broken
by the lower class index (a stable sort of the negated scores). The per-image
hits (:func:`topk_hits`) are what every error and every interval is computed
from: records keep them (``RunRecord.val_hits``) so that
:mod:`harness.intervals` can bootstrap over the scored images later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.data.textfiles import read_label_text

__all__ = [
    "MAX_LABELS",
    "SubmissionFormatError",
    "flat_error",
    "hit_error",
    "read_labels",
    "read_submission",
    "score_submission",
    "topk_error",
    "topk_errors",
    "topk_hits",
    "topk_labels",
    "write_submission",
]

MAX_LABELS = 5  # the devkit reads at most five labels per image
_NEVER = -(2**62)  # padding label that equals no class


class SubmissionFormatError(ValueError):
    """A submission or ground-truth file that does not follow the devkit format."""


def topk_labels(scores: np.ndarray, k: int = MAX_LABELS) -> np.ndarray:
    """Top-``k`` class indices per row, most confident first; ties -> lower index."""
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_images, n_classes), got shape {scores.shape}")
    if not np.all(np.isfinite(scores)):
        bad = int(np.flatnonzero(~np.isfinite(scores).all(axis=1))[0])
        raise ValueError(f"scores contain NaN or infinity (first bad row: {bad})")
    k = min(k, scores.shape[1])
    # A stable sort of -scores keeps equal scores in index order (the devkit's
    # tie rule); sorting 1000 classes for 50k images takes about a second.
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def flat_error(
    predictions: Sequence[Sequence[int]] | np.ndarray, truth: Sequence[int], k: int
) -> float:
    """Devkit flat error at ``k`` in percent. ``predictions`` rows may be ragged."""
    truth = np.asarray(truth)
    if len(predictions) != len(truth):
        raise SubmissionFormatError(
            f"{len(predictions)} prediction rows for {len(truth)} ground-truth labels"
        )
    if len(truth) == 0:
        raise SubmissionFormatError("no images to score")
    if not 1 <= k <= MAX_LABELS:
        raise ValueError(f"k must be between 1 and {MAX_LABELS}, got {k}")
    if isinstance(predictions, np.ndarray) and predictions.ndim == 2:
        padded = predictions[:, :k]
        if padded.shape[1] < k:
            pad = np.full((len(truth), k - padded.shape[1]), _NEVER, dtype=np.int64)
            padded = np.concatenate([padded.astype(np.int64), pad], axis=1)
    else:
        padded = np.full((len(truth), k), _NEVER, dtype=np.int64)
        for i, row in enumerate(predictions):
            row = list(row)[:k]
            padded[i, : len(row)] = row
    hit = (padded == truth[:, None]).any(axis=1)
    return float(100.0 * (1.0 - hit.mean()))


def topk_error(scores: np.ndarray, labels: Sequence[int], k: int) -> float:
    """Top-``k`` error in percent of a score matrix (devkit semantics)."""
    return flat_error(topk_labels(scores, k), labels, k)


def topk_hits(
    scores: np.ndarray, labels: Sequence[int], ks: Sequence[int] = (1, 5)
) -> dict[int, np.ndarray]:
    """Per-image hits at each ``k`` from one ranking: ``{k: bool array (n_images,)}``.

    ``hits[k][i]`` is True when image ``i``'s truth is among its first ``k``
    labels (devkit semantics; with fewer than ``k`` classes every label counts).
    """
    truth = np.asarray(labels)
    scores = np.asarray(scores)
    if scores.ndim == 2 and len(scores) != len(truth):
        raise SubmissionFormatError(
            f"{len(scores)} score rows for {len(truth)} ground-truth labels"
        )
    if len(truth) == 0:
        raise SubmissionFormatError("no images to score")
    for k in ks:
        if not 1 <= k <= MAX_LABELS:
            raise ValueError(f"k must be between 1 and {MAX_LABELS}, got {k}")
    ranked = topk_labels(scores, max(ks))
    match = ranked == truth[:, None]
    return {k: match[:, :k].any(axis=1) for k in ks}


def hit_error(hits: np.ndarray) -> float:
    """Error in percent of a boolean hit array (100 x the share of images missed)."""
    hits = np.asarray(hits, dtype=bool)
    if hits.size == 0:
        raise SubmissionFormatError("no images to score")
    return float(100.0 * (1.0 - hits.mean()))


def topk_errors(
    scores: np.ndarray, labels: Sequence[int], ks: Sequence[int] = (1, 5)
) -> dict[int, float]:
    """Top-k errors for several ``k`` from one ranking, in percent."""
    return {k: hit_error(h) for k, h in topk_hits(scores, labels, ks).items()}


# ----------------------------------------------------------------- files


def write_submission(
    path: Path, predictions: np.ndarray, id_of: Sequence[int | str] | None = None
) -> None:
    """Write one line per image, labels space-separated, most confident first.

    ``predictions`` holds class indices; ``id_of`` maps an index to what the
    file should contain (devkit ILSVRC2012_IDs, or wnids). Without it the
    0-based indices themselves are written.
    """
    lines = []
    for row in np.asarray(predictions)[:, :MAX_LABELS]:
        labels = [str(id_of[int(c)]) if id_of is not None else str(int(c)) for c in row]
        lines.append(" ".join(labels))
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


@dataclass(frozen=True)
class LabelFile:
    """Rows of labels read from a devkit-format file; ``kind`` is "int" or "wnid"."""

    rows: list[list[str]]
    kind: str
    path: Path


def _token_kind(token: str) -> str:
    if token.lstrip("-").isdigit():
        return "int"
    if len(token) == 9 and token[0] == "n" and token[1:].isdigit():
        return "wnid"
    return "bad"


def _read_rows(path: Path, what: str) -> LabelFile:
    path = Path(path)
    # the data layer's label-file reader: a BOM (Excel, Notepad) or a non-UTF-8 byte is decoded,
    # not a failure; an unreadable file stays a SubmissionFormatError
    text = read_label_text(path, what, error=SubmissionFormatError)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()  # a trailing newline (or several) is not a row
    if not lines:
        raise SubmissionFormatError(f"{path}: the file is empty")
    kinds: set[str] = set()
    rows = []
    for n, line in enumerate(lines, start=1):
        tokens = line.replace(",", " ").split()
        for t in tokens:
            kind = _token_kind(t)
            if kind == "bad":
                raise SubmissionFormatError(
                    f"{path}:{n}: {t!r} is neither an integer label nor a wnid (nXXXXXXXX)"
                )
            kinds.add(kind)
        rows.append(tokens)
    if len(kinds) > 1:
        raise SubmissionFormatError(f"{path}: mixes integer labels and wnids")
    return LabelFile(rows=rows, kind=kinds.pop() if kinds else "int", path=path)


def read_submission(path: Path) -> LabelFile:
    """Read a predictions file: one line per image, 0..n labels (more than 5 are ignored)."""
    return _read_rows(path, "the predictions file")


def read_labels(path: Path) -> LabelFile:
    """Read a ground-truth file: exactly one label per line."""
    lf = _read_rows(path, "the ground-truth file")
    for n, row in enumerate(lf.rows, start=1):
        if len(row) != 1:
            raise SubmissionFormatError(f"{path}:{n}: expected exactly one label, got {len(row)}")
    return lf


def _as_wnids(lf: LabelFile, id_to_wnid: Mapping[int, str], meta: str) -> LabelFile:
    """A file of devkit IDs as wnids through the devkit's ``meta.mat`` (an unknown ID: refused)."""
    rows = []
    for n, row in enumerate(lf.rows, start=1):
        out = []
        for token in row:
            wnid = id_to_wnid.get(int(token))
            if wnid is None:
                raise SubmissionFormatError(
                    f"{lf.path}:{n}: ID {token} is not an ILSVRC2012_ID of {meta}; use the "
                    "meta.mat of the devkit the ground truth comes from"
                )
            out.append(wnid)
        rows.append(out)
    return LabelFile(rows=rows, kind="wnid", path=lf.path)


def score_submission(
    predictions: Path,
    ground_truth: Path,
    id_to_wnid: Mapping[int, str] | None = None,
    meta: str = "meta.mat",
) -> dict[str, float | int]:
    """Score a devkit-format predictions file against a ground-truth file.

    Both use the same kind of label (integer IDs or wnids), or one uses wnids
    and ``id_to_wnid`` (the devkit's ``meta.mat``, read by
    :func:`harness.data.layouts.devkit.read_devkit_meta`; ``meta`` names it
    in messages) maps the other's ILSVRC2012_IDs to wnids. Returns
    ``{"n_images", "top1_err", "top5_err"}`` (errors in percent).
    """
    pred = read_submission(predictions)
    gt = read_labels(ground_truth)
    if pred.kind != gt.kind and any(pred.rows):
        if id_to_wnid is None:
            raise SubmissionFormatError(
                f"{predictions} uses {pred.kind} labels but {ground_truth} uses {gt.kind} "
                "labels; pass the devkit's meta.mat (--meta) to map IDs to wnids, or convert "
                "one so both use devkit IDs or both use wnids"
            )
        pred = _as_wnids(pred, id_to_wnid, meta) if pred.kind == "int" else pred
        gt = _as_wnids(gt, id_to_wnid, meta) if gt.kind == "int" else gt
    if len(pred.rows) != len(gt.rows):
        raise SubmissionFormatError(
            f"{predictions} has {len(pred.rows)} rows but {ground_truth} has {len(gt.rows)}: "
            "a submission needs exactly one line per image, in ground-truth order"
        )
    vocab: dict[str, int] = {}
    for row in gt.rows:
        vocab.setdefault(row[0], len(vocab))
    truth = [vocab[row[0]] for row in gt.rows]
    # a predicted label absent from the ground truth can never match: -1
    encoded = [[vocab.get(t, -1) for t in row[:MAX_LABELS]] for row in pred.rows]
    return {
        "n_images": len(truth),
        "top1_err": flat_error(encoded, truth, 1),
        "top5_err": flat_error(encoded, truth, 5),
    }
