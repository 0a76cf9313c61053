"""The ILSVRC protocol: agreement with scikit-learn and the devkit's edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import top_k_accuracy_score

from harness.cli import main
from harness.protocol import (
    SubmissionFormatError,
    flat_error,
    hit_error,
    score_submission,
    topk_error,
    topk_errors,
    topk_hits,
    topk_labels,
    write_submission,
)


@pytest.mark.parametrize("n_classes", [7, 100, 1000])
def test_topk_error_agrees_with_sklearn_on_random_scores(n_classes: int) -> None:
    rng = np.random.default_rng(n_classes)
    scores = rng.normal(size=(500, n_classes))
    labels = rng.integers(0, n_classes, size=500)
    for k in (1, 5):
        expected = 100 * (
            1 - top_k_accuracy_score(labels, scores, k=k, labels=np.arange(n_classes))
        )
        assert topk_error(scores, labels, k) == pytest.approx(expected)


def test_ties_are_broken_by_lower_index() -> None:
    scores = np.array([[0.5, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0]])
    assert topk_labels(scores, 5).tolist() == [[1, 2, 3, 5, 6]]
    # label 7 ties with the top-5 but loses on index: an error at k=5
    assert topk_error(scores, [7], 5) == 100.0
    assert topk_error(scores, [6], 5) == 0.0


def test_nan_scores_are_rejected() -> None:
    scores = np.zeros((3, 4))
    scores[1, 2] = np.nan
    with pytest.raises(ValueError, match="row: 1"):
        topk_labels(scores)


def test_devkit_semantics_on_hand_made_cases() -> None:
    truth = [3, 3, 3, 3, 3]
    preds = [
        [3],  # short row: padded, right at k=1
        [1, 2, 4, 5, 6, 3],  # the sixth label is ignored: error at k=5
        [1, 1, 1, 1, 3],  # repeated labels waste slots, but 3 is fifth: right at k=5
        [],  # no labels at all: an error
        [9, 3],  # right at k=5, wrong at k=1
    ]
    assert flat_error(preds, truth, 1) == pytest.approx(100 * 4 / 5)
    assert flat_error(preds, truth, 5) == pytest.approx(100 * 2 / 5)


def test_row_count_mismatch_is_an_error() -> None:
    with pytest.raises(SubmissionFormatError, match="2 prediction rows for 3"):
        flat_error([[1], [2]], [1, 2, 3], 5)


def test_topk_errors_is_one_ranking_for_all_k() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((50, 20))
    labels = rng.integers(0, 20, 50)
    errs = topk_errors(scores, labels, (1, 5))
    assert errs[1] >= errs[5]
    assert errs == {1: topk_error(scores, labels, 1), 5: topk_error(scores, labels, 5)}


def test_submission_roundtrip_and_cli_evaluate(tmp_path, capsys) -> None:
    rng = np.random.default_rng(1)
    scores = rng.random((40, 10))
    labels = rng.integers(0, 10, 40)
    ids = list(range(1, 11))  # devkit-style 1-based IDs
    pred = tmp_path / "pred.txt"
    gt = tmp_path / "gt.txt"
    write_submission(pred, topk_labels(scores, 5), id_of=ids)
    gt.write_text("\n".join(str(ids[c]) for c in labels) + "\n")
    res = score_submission(pred, gt)
    assert res["n_images"] == 40
    assert res["top1_err"] == pytest.approx(topk_error(scores, labels, 1))
    assert res["top5_err"] == pytest.approx(topk_error(scores, labels, 5))
    assert main(["evaluate", "--predictions", str(pred), "--ground-truth", str(gt)]) == 0
    assert f"top-5 error: {res['top5_err']:.2f}%" in capsys.readouterr().out


def test_an_empty_prediction_line_is_an_error_for_that_image(tmp_path) -> None:
    pred = tmp_path / "p.txt"
    gt = tmp_path / "g.txt"
    pred.write_text("1\n\n3\n")
    gt.write_text("1\n2\n3\n")
    assert score_submission(pred, gt)["top5_err"] == pytest.approx(100 / 3)


def test_wnid_files_are_scored(tmp_path) -> None:
    pred = tmp_path / "p.txt"
    gt = tmp_path / "g.txt"
    pred.write_text("n01440764 n01443537\nn01443537\n")
    gt.write_text("n01443537\nn01440764\n")
    res = score_submission(pred, gt)
    assert res["top1_err"] == 100.0
    assert res["top5_err"] == 50.0


@pytest.mark.parametrize(
    ("pred_text", "gt_text", "message"),
    [
        ("1 2\nfoo 3\n", "1\n2\n", r"pred.txt:2: 'foo' is neither"),
        ("1\n2\n3\n", "1\n2\n", "has 3 rows but"),
        ("1\n2\n3\n", "1\n\n2\n", r"gt.txt:2: expected exactly one label, got 0"),
        ("", "1\n", "the file is empty"),
        ("1\n2\n", "1 2\n3\n", r"gt.txt:1: expected exactly one label"),
        ("n01440764\nn01440764\n", "1\n2\n", "uses wnid labels but"),
    ],
)
def test_malformed_files_are_rejected_with_a_line_number(
    tmp_path, capsys, pred_text: str, gt_text: str, message: str
) -> None:
    pred = tmp_path / "pred.txt"
    gt = tmp_path / "gt.txt"
    pred.write_text(pred_text)
    gt.write_text(gt_text)
    with pytest.raises(SubmissionFormatError, match=message):
        score_submission(pred, gt)
    assert main(["evaluate", "--predictions", str(pred), "--ground-truth", str(gt)]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "cp1252"])
def test_files_saved_with_a_bom_or_in_utf16_are_scored(tmp_path, capsys, encoding: str) -> None:
    """Excel/Notepad re-saves: the BOM used to make the first label '\\ufeff1', a bad token."""
    pred = tmp_path / "p.txt"
    gt = tmp_path / "g.txt"
    pred.write_bytes("1 2\r\n2\r\n3 1\r\n".encode(encoding))
    gt.write_bytes("1\n1\n1\n".encode(encoding))
    res = score_submission(pred, gt)
    assert res["n_images"] == 3
    assert res["top1_err"] == pytest.approx(200 / 3)
    assert res["top5_err"] == pytest.approx(100 / 3)
    assert main(["evaluate", "--predictions", str(pred), "--ground-truth", str(gt)]) == 0


def test_an_unreadable_predictions_file_is_a_format_error(tmp_path) -> None:
    gt = tmp_path / "g.txt"
    gt.write_text("1\n")
    folder = tmp_path / "pred.txt"
    folder.mkdir()
    with pytest.raises(SubmissionFormatError, match=r"the predictions file .*pred.txt is a folder"):
        score_submission(folder, gt)


def test_topk_hits_are_the_per_image_form_of_topk_errors() -> None:
    rng = np.random.default_rng(1)
    scores = rng.random((60, 12))
    labels = rng.integers(0, 12, 60)
    hits = topk_hits(scores, labels, (1, 5))
    assert hits[1].dtype == bool and hits[1].shape == (60,)
    assert not np.any(hits[1] & ~hits[5])  # a top-1 hit is a top-5 hit
    errs = topk_errors(scores, labels, (1, 5))
    assert errs == {k: hit_error(h) for k, h in hits.items()}
    ranked = topk_labels(scores, 5)
    assert np.array_equal(hits[5], (ranked == labels[:, None]).any(axis=1))
    # with fewer classes than k, every label counts: all hits
    assert topk_hits(rng.random((4, 3)), [0, 1, 2, 0], (5,))[5].all()
    with pytest.raises(SubmissionFormatError, match="3 score rows for 2"):
        topk_hits(rng.random((3, 4)), [0, 1])
    with pytest.raises(ValueError, match="k must be between 1 and 5"):
        topk_hits(scores, labels, (6,))
