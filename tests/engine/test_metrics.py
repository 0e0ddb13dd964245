import numpy as np
import pytest

from leaf_core.metrics import SegmentationScores, dice_score, iou_score


def test_dice_and_iou_of_overlapping_squares():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[0:4, 0:4] = True  # 16 px
    b[2:6, 0:4] = True  # 16 px, 8 shared
    assert dice_score(a, b) == pytest.approx(2 * 8 / 32)
    assert iou_score(a, b) == pytest.approx(8 / 24)


def test_empty_ground_truth_is_explicit():
    empty = np.zeros((5, 5), bool)
    something = empty.copy()
    something[2, 2] = True
    assert dice_score(empty, empty) == 1.0 and iou_score(empty, empty) == 1.0
    assert dice_score(something, empty) == 0.0 and iou_score(something, empty) == 0.0
    assert dice_score(empty, something) == 0.0


def test_accumulator_means_over_images_and_refuses_shape_mismatch():
    scores = SegmentationScores()
    full = np.ones((4, 4), bool)
    scores.add("a", full, full)
    scores.add("b", ~full, full)
    assert scores.mean_dice == pytest.approx(0.5)
    assert [row["id"] for row in scores.per_image()] == ["a", "b"]
    with pytest.raises(ValueError, match="shapes differ"):
        dice_score(np.zeros((2, 2)), np.zeros((3, 3)))
