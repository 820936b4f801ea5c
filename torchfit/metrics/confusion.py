"""Thresholded confusion-matrix metrics: TP/FP/TN/FN counts, Precision, Recall and AUC.

All of them share one device-resident state, `histogram`: for each prediction, how many of the
(sorted) thresholds it exceeds — k in [0, T] — accumulated as sample-weighted positive and
negative mass, `histogram[k, (label,) 0/1]`. One `searchsorted` and one `index_add_` per step,
whatever the number of thresholds (Keras builds a thresholds × predictions matrix instead).
The confusion counts at every threshold are cumulative sums of it, computed in `result()`:
a prediction counts as positive at threshold t when `y_pred > t`, as in Keras.

Labels are read as floats: 0/1 labels (or booleans) as usual, soft labels as fractional
positive mass (as Keras' AUC does).
"""

import torch

from torchfit.metrics.metric import Metric
from torchfit.metrics.reduction import weight_shape_error
from torchfit.utils.tensor_utils import (
    EPSILON,
    align_sample_weight,
    div_no_nan,
    squeeze_to_same_rank,
)

NEG_INF = -1e10  # Keras' metrics_utils.NEG_INF: the score given to predictions outside the top k


class _ThresholdedMetric(Metric):
    """Shared update logic: predictions → weighted histogram of exceeded thresholds."""

    def __init__(
        self, thresholds, name=None, dtype=None, top_k=None, class_id=None, from_logits=False
    ):
        super().__init__(name=name, dtype=dtype)
        self.thresholds = list(thresholds)
        self.top_k = top_k
        self.class_id = class_id
        self.from_logits = from_logits
        order = sorted(range(len(self.thresholds)), key=self.thresholds.__getitem__)
        self._sorted_thresholds = torch.tensor(
            [self.thresholds[i] for i in order], dtype=torch.float32
        )
        # Results are computed over sorted thresholds; this puts them back in the given order.
        unsorted = order != list(range(len(order)))
        self._given_order = None
        if unsorted:
            self._given_order = torch.tensor(sorted(range(len(order)), key=order.__getitem__))
        self._label_weights = None  # AUC's per-class weights in the counts, when given
        self.histogram = None

    def _build(self, num_labels=None):
        labels = () if num_labels is None else (num_labels,)
        self.histogram = self.add_weight(
            "histogram", shape=(len(self.thresholds) + 1, *labels, 2), aggregation="sum"
        )

    def _merge_config(self):
        return {"thresholds": self.thresholds, "top_k": self.top_k, "class_id": self.class_id,
                "from_logits": self.from_logits, "label_weights": self._label_weights}

    def to(self, device):
        super().to(device)
        self._sorted_thresholds = self._sorted_thresholds.to(device)
        if self._given_order is not None:
            self._given_order = self._given_order.to(device)
        if self._label_weights is not None:
            self._label_weights = self._label_weights.to(device)
        return self

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = self._as_tensor(y_pred)
        self._follow_device(y_pred)
        y_true, y_pred = squeeze_to_same_rank(
            self._as_tensor(y_true), y_pred.to(self._sorted_thresholds.dtype)
        )
        if self.from_logits:
            y_pred = y_pred.sigmoid()
        if self.top_k is not None:
            y_pred = _filter_top_k(y_pred, self.top_k)
        if self.class_id is not None:
            if y_pred.ndim < 2:
                raise ValueError(
                    "When class_id is provided, y_pred must be a 2D array with shape "
                    f"(num_samples, num_classes). Received: y_pred of shape "
                    f"{tuple(y_pred.shape)}, class_id={self.class_id}."
                )
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"{type(self).__name__} expects one 0/1 label per prediction: y_true and y_pred of "
                f"the same shape. Received: y_true of shape {tuple(y_true.shape)}, y_pred of shape "
                f"{tuple(y_pred.shape)}. "
                "(For integer class labels, one-hot encode them or use class_id.)"
            )
        self._accumulate(y_true.to(y_pred.dtype), y_pred, sample_weight)

    def _accumulate(self, positive, y_pred, sample_weight):
        if sample_weight is None:
            mass = torch.stack((positive, 1.0 - positive), dim=-1)
        else:
            weight = align_sample_weight(self._as_tensor(sample_weight), y_pred)
            try:
                weight = weight.expand_as(y_pred)
            except RuntimeError as error:
                raise weight_shape_error(weight, y_pred) from error
            weighted_positive = positive * weight
            mass = torch.stack((weighted_positive, weight - weighted_positive), dim=-1)
        if self._label_weights is not None:
            mass = mass * self._label_weights.unsqueeze(-1)
        # k = how many sorted thresholds each prediction exceeds (strictly): y_pred > t_i iff i < k.
        exceeded = torch.searchsorted(self._sorted_thresholds, y_pred.contiguous())
        if self.histogram is None:  # only a multi-label AUC not told its number of labels
            self._build(y_pred.shape[-1])
        if self.histogram.ndim == 3:  # multi-label: one histogram per label (last axis)
            num_labels = self.histogram.shape[1]
            if y_pred.ndim == 0 or y_pred.shape[-1] != num_labels:
                raise ValueError(
                    f"{type(self).__name__}(multi_label=True) was built for {num_labels} "
                    "labels (the "
                    f"last axis of y_pred). Received: y_pred of shape {tuple(y_pred.shape)}."
                )
            labels = torch.arange(num_labels, device=exceeded.device)
            exceeded = exceeded.reshape(-1, num_labels) * num_labels + labels
            self.histogram.view(-1, 2).index_add_(
                0, exceeded.reshape(-1), mass.reshape(-1, 2).to(self.dtype)
            )
        else:
            self.histogram.index_add_(0, exceeded.reshape(-1), mass.reshape(-1, 2).to(self.dtype))

    def _counts(self):
        """(tp, fp, tn, fn) at each sorted threshold: shape (T,) or (T, num_labels)."""
        above = self.histogram.flip(0).cumsum(0).flip(0)[1:]  # mass exceeding threshold i: k > i
        below = self.histogram.cumsum(0)[:-1]  # mass not exceeding it: k <= i
        return above[..., 0], above[..., 1], below[..., 1], below[..., 0]

    def _given(self, values):
        """Per-threshold values in the order the thresholds were given (a scalar for one)."""
        if self._given_order is not None:
            values = values[self._given_order]
        return values[0] if len(self.thresholds) == 1 else values

    # Keras's state variables of the metric, by name; torchfit's state is the one histogram.
    _keras_variables = ("true_positives", "false_positives", "true_negatives", "false_negatives")

    @property
    def variables(self):
        """Keras's variables of this metric, in Keras's order (e.g. Precision: true positives,
        false positives), each of shape `(len(thresholds),)` or `(T, num_labels)`: the counts,
        computed from the one `histogram` state (what `state_dict()` saves); read-only."""
        if self.histogram is None:  # a multi-label AUC before its first batch
            return []
        counts = dict(zip(_COUNT_NAMES, self._counts()))
        order = self._given_order
        return [counts[name] if order is None else counts[name][order]
                for name in self._keras_variables]

    @property
    def true_positives(self):
        return self._given(self._counts()[0])

    @property
    def false_positives(self):
        return self._given(self._counts()[1])

    @property
    def true_negatives(self):
        return self._given(self._counts()[2])

    @property
    def false_negatives(self):
        return self._given(self._counts()[3])


_COUNT_NAMES = ("true_positives", "false_positives", "true_negatives", "false_negatives")


def _filter_top_k(scores, k):
    # Keep the k highest scores per row; the rest become NEG_INF, below every threshold.
    top = scores.topk(k, dim=-1).indices
    keep = torch.zeros_like(scores, dtype=torch.bool).scatter_(-1, top, True)
    return scores.masked_fill(~keep, NEG_INF)


def _plain(thresholds):
    # A config holds Python numbers (a tuple or an array of thresholds becomes a list).
    if thresholds is None or isinstance(thresholds, (int, float)):
        return thresholds
    return [float(t) for t in thresholds]


def _parse_thresholds(thresholds, default):
    if thresholds is None:
        return [default]
    values = [thresholds] if isinstance(thresholds, (int, float)) else list(thresholds)
    invalid = [t for t in values if not isinstance(t, (int, float)) or not 0.0 <= t <= 1.0]
    if not values or invalid:
        # Keras's wording, which lists the invalid values.
        raise ValueError(
            f"Threshold values must be in [0, 1]. Received: {invalid} "
            f"(thresholds={thresholds!r}). Pass numbers between 0 and 1."
        )
    return [float(t) for t in values]


class _ConfusionCount(_ThresholdedMetric):
    """One confusion-matrix count per threshold (default threshold 0.5)."""

    _index = 0  # position in `_counts()`: tp, fp, tn, fn

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(_parse_thresholds(thresholds, 0.5), name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self._build()

    def result(self):
        return self._given(self._counts()[self._index])

    @property
    def variables(self):
        """Keras's one variable, `accumulator` (the count at each threshold)."""
        return [self.accumulator]

    @property
    def accumulator(self):
        """The count at each threshold, shape `(len(thresholds),)` (Keras's state variable)."""
        values = self._counts()[self._index]
        return values if self._given_order is None else values[self._given_order]

    def get_config(self):
        """Keras's config: the base's `name` and `dtype`, and `thresholds` as given."""
        return {**super().get_config(), "thresholds": _plain(self.init_thresholds)}


class TruePositives(_ConfusionCount):
    """Sample-weighted count of positives predicted positive (`y_pred > threshold`)."""

    higher_is_better = True
    _index = 0


class FalsePositives(_ConfusionCount):
    """Sample-weighted count of negatives predicted positive."""

    higher_is_better = False
    _index = 1


class TrueNegatives(_ConfusionCount):
    """Sample-weighted count of negatives predicted negative."""

    higher_is_better = True
    _index = 2


class FalseNegatives(_ConfusionCount):
    """Sample-weighted count of positives predicted negative."""

    higher_is_better = False
    _index = 3


class _TopKThresholded(_ThresholdedMetric):
    """Precision and Recall: thresholds default to 0.5, or to "in the top k" with ``top_k``."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        default = 0.5 if top_k is None else NEG_INF
        super().__init__(
            _parse_thresholds(thresholds, default),
            name=name,
            dtype=dtype,
            top_k=top_k,
            class_id=class_id,
        )
        self.init_thresholds = thresholds
        self._build()

    def get_config(self):
        """Keras's config: `name`, `dtype`, `thresholds` (as given), `top_k`, `class_id`."""
        return {**super().get_config(), "thresholds": _plain(self.init_thresholds),
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_TopKThresholded):
    """TP / (TP + FP) over everything seen, per threshold.

    Args:
        thresholds: a float or a list of floats in [0, 1] (default 0.5; with `top_k`, "in the top
            k" is the only criterion). A list gives one result per threshold.
        top_k: only the k highest predictions of each sample count as positive.
        class_id: score only this class (last axis) of multi-class predictions.

    Example:
        >>> m = torchfit.metrics.Precision()
        >>> m.update_state(torch.tensor([0, 1, 1, 1]), torch.tensor([1.0, 0.0, 1.0, 1.0]))
        >>> m.result()
        tensor(0.6667)
    """

    _keras_variables = ("true_positives", "false_positives")
    higher_is_better = True

    def result(self):
        tp, fp, _, _ = self._counts()
        return self._given(div_no_nan(tp, tp + fp))


class Recall(_TopKThresholded):
    """TP / (TP + FN) over everything seen, per threshold (arguments as for `Precision`)."""

    _keras_variables = ("true_positives", "false_negatives")
    higher_is_better = True

    def result(self):
        tp, _, _, fn = self._counts()
        return self._given(div_no_nan(tp, tp + fn))


class AUC(_ThresholdedMetric):
    """Area under the ROC, precision-recall or precision-recall-gain curve, as Keras computes it.

    The curve is sampled at `num_thresholds` evenly spaced thresholds in [0, 1] (or at the given
    `thresholds`, plus 0 - 1e-7 and 1 + 1e-7) and integrated with `summation_method`:
    "interpolation" (trapezoids for ROC and PR gain; Davis & Goadrich's interpolation for PR),
    "minoring" or "majoring" (Riemann sums below or above the curve). The formulas are those of
    Keras 3, which are also tf.keras 2's.

    `curve="PRGAIN"` (Keras 3's spelling; tf.keras 2's `"PR_GAIN"` is accepted too) integrates
    precision gain over recall gain (Flach & Kull 2015), with `P/N` the ratio of positives to
    negatives: `recall_gain = 1 - P/N * FN/TP` (0 where TP = 0, clipped at 0) and
    `precision_gain = 1 - P/N * FP/TP` (1 where TP = 0).

    Args:
        num_thresholds: how many thresholds sample the curve (> 1, default 200).
        curve: "ROC" (default), "PR" or "PRGAIN".
        summation_method: "interpolation" (default), "minoring" or "majoring".
        thresholds: explicit thresholds in [0, 1] instead of `num_thresholds` evenly spaced ones.
        num_labels: with `multi_label`, the number of labels (else read from the first batch).
        multi_label: treat the last axis as independent labels and average their AUCs (weighted by
            `label_weights` if given); otherwise every prediction is pooled into one curve and
            `label_weights` weights the classes' contributions to it.
        from_logits: apply a sigmoid to `y_pred` first.

    Example:
        >>> m = torchfit.metrics.AUC(num_thresholds=3)
        >>> m.update_state(torch.tensor([0, 0, 1, 1]), torch.tensor([0.0, 0.5, 0.3, 0.9]))
        >>> m.result()
        tensor(0.7500)
    """

    higher_is_better = True

    def __init__(
        self,
        num_thresholds=200,
        curve="ROC",
        summation_method="interpolation",
        name=None,
        dtype=None,
        thresholds=None,
        multi_label=False,
        num_labels=None,
        label_weights=None,
        from_logits=False,
    ):
        given_curve, curve = curve, _AUC_CURVES.get(str(curve).upper())
        if curve is None:
            raise ValueError(
                f'Invalid AUC curve value: "{given_curve}". '
                'Expected values are ["PR", "ROC", "PRGAIN"].'
            )
        given_method, summation_method = summation_method, str(summation_method).lower()
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(
                f'Invalid AUC summation method value: "{given_method}". '
                'Expected values are ["interpolation", "majoring", "minoring"].'
            )
        if num_labels and not multi_label:
            raise ValueError(
                "`num_labels` is needed only when `multi_label` is True. "
                f"Received: num_labels={num_labels!r}, multi_label={multi_label!r}."
            )
        self._init_from_thresholds = thresholds is not None
        thresholds = _auc_thresholds(num_thresholds, thresholds)
        super().__init__(thresholds, name=name, dtype=dtype, from_logits=from_logits)
        self.num_labels = num_labels
        self.num_thresholds = len(self.thresholds)
        self.curve, self.summation_method = curve, summation_method
        self.multi_label = multi_label
        if label_weights is not None:
            self._label_weights = torch.as_tensor(label_weights, dtype=self.dtype).reshape(-1)
            if multi_label and num_labels is None:
                num_labels = self._label_weights.numel()
        self._multi_label_weights, self._label_weights = (
            (self._label_weights, None) if multi_label else (None, self._label_weights)
        )
        if not multi_label:
            self._build()
        elif num_labels is not None:
            self._build(num_labels)
        # else: multi-label with an unknown number of labels, built at the first update_state.

    def _merge_config(self):
        return {**super()._merge_config(), "curve": self.curve,
                "summation_method": self.summation_method, "multi_label": self.multi_label,
                "multi_label_weights": self._multi_label_weights}

    def merge_state(self, metrics):
        others = [metrics] if isinstance(metrics, Metric) else list(metrics)
        # A multi-label AUC not told its number of labels builds its state at its first update:
        # one that has seen no data has nothing to merge, and an unbuilt self takes the others'.
        others = [m for m in others if not isinstance(m, AUC) or m.histogram is not None]
        if self.histogram is None and others and getattr(others[0], "multi_label", False):
            self._build(others[0].histogram.shape[1])
        super().merge_state(others)

    def to(self, device):
        super().to(device)
        if self._multi_label_weights is not None:
            self._multi_label_weights = self._multi_label_weights.to(device)
        return self

    def result(self):
        if self.histogram is None:
            return torch.zeros((), dtype=self.dtype, device=self.device)
        tp, fp, tn, fn = self._counts()
        if self.curve == "PR" and self.summation_method == "interpolation":
            areas = _interpolate_pr_auc(tp, fp, fn)
        else:
            if self.curve == "ROC":
                x, y = div_no_nan(fp, fp + tn), div_no_nan(tp, tp + fn)  # fpr, tpr
            elif self.curve == "PR":
                x, y = div_no_nan(tp, tp + fn), div_no_nan(tp, tp + fp)  # recall, precision
            else:
                x, y = _pr_gains(tp, fp, tn, fn)
            if self.summation_method == "interpolation":
                heights = (y[:-1] + y[1:]) / 2.0
            elif self.summation_method == "minoring":
                heights = torch.minimum(y[:-1], y[1:])
            else:
                heights = torch.maximum(y[:-1], y[1:])
            areas = ((x[:-1] - x[1:]) * heights).sum(0)
        if not self.multi_label:
            return areas
        if self._multi_label_weights is None:
            return areas.mean()
        weights = self._multi_label_weights
        return div_no_nan((areas * weights).sum(), weights.sum())

    def get_config(self):
        """Keras 3's config keys; `thresholds` (without the two end points) only when given."""
        weights = self._multi_label_weights if self.multi_label else self._label_weights
        config = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": None if weights is None else weights.tolist(),
            "from_logits": self.from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config

    def load_state_dict(self, state_dict):
        if self.histogram is None and "histogram" in state_dict:
            self._build(torch.as_tensor(state_dict["histogram"]).shape[1])
        super().load_state_dict(state_dict)


# Accepted spellings of `curve` (upper-cased) -> the name Keras 3 writes in its config.
_AUC_CURVES = {"ROC": "ROC", "PR": "PR", "PRGAIN": "PRGAIN", "PR_GAIN": "PRGAIN"}


def _auc_thresholds(num_thresholds, thresholds):
    """The sorted given thresholds, or `num_thresholds - 2` evenly spaced inner ones, with the
    end points 0 - 1e-7 and 1 + 1e-7 (so that predictions of exactly 0 or 1 are counted)."""
    if thresholds is not None:
        inner = sorted(_parse_thresholds(thresholds, 0.5))
    elif isinstance(num_thresholds, int) and num_thresholds > 1:
        inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    else:
        raise ValueError(
            "Argument `num_thresholds` must be an integer > 1. "
            f"Received: num_thresholds={num_thresholds!r}"
        )
    return [0.0 - EPSILON, *inner, 1.0 + EPSILON]


def _pr_gains(tp, fp, tn, fn):
    """(recall gain, precision gain) per threshold, with Keras's fixes for TP = 0 and gain < 0."""
    scaling = div_no_nan(tp + fn, tn + fp)  # P / N
    no_tp = tp == 0
    recall_gain = torch.where(no_tp, 0.0, 1.0 - scaling * div_no_nan(fn, tp)).clamp_min(0.0)
    precision_gain = torch.where(no_tp, 1.0, 1.0 - scaling * div_no_nan(fp, tp))
    return recall_gain, precision_gain


def _interpolate_pr_auc(tp, fp, fn):
    """PR AUC by Davis & Goadrich (2006) interpolation between thresholds, as in Keras."""
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    dp = p[:-1] - p[1:]
    precision_slope = div_no_nan(dtp, dp.clamp_min(0))
    intercept = tp[1:] - precision_slope * p[1:]
    both_positive = (p[:-1] > 0) & (p[1:] > 0)
    safe_p_ratio = torch.where(
        both_positive, div_no_nan(p[:-1], p[1:].clamp_min(0)), torch.ones_like(p[1:])
    )
    increments = div_no_nan(
        precision_slope * (dtp + intercept * safe_p_ratio.log()), (tp[1:] + fn[1:]).clamp_min(0)
    )
    return increments.sum(0)
