"""Multi-input / multi-output models: the guide's image + time-series model, with named outputs."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import torchfit

import helpers  # noqa: F401  (puts examples/ on sys.path)
import multi_input_multi_output as guide

IMG, TS, SCORE, CLASS = guide.dummy_data(samples=40)
GUIDE_KEYS = ["loss", "score_output_loss", "class_output_loss",
              "score_output_mean_absolute_percentage_error",
              "score_output_mean_absolute_error", "class_output_categorical_accuracy"]


def model_with(module=None, output_names=None, **compile_kwargs):
    torch.manual_seed(0)
    model = torchfit.Model(module or guide.MultiInputMultiOutput(), device="cpu",
                           output_names=output_names)
    model.compile(optimizer=torchfit.optimizers.RMSprop(1e-3), **compile_kwargs)
    return model


GUIDE_COMPILE = dict(
    loss={"score_output": torchfit.losses.MeanSquaredError(),
          "class_output": torchfit.losses.CategoricalCrossentropy()},
    loss_weights={"score_output": 2., "class_output": 1.},
)


def guide_metrics():
    return {"score_output": [torchfit.metrics.MeanAbsolutePercentageError(),
                             torchfit.metrics.MeanAbsoluteError()],
            "class_output": [torchfit.metrics.CategoricalAccuracy()]}


@pytest.mark.parametrize("form", ["lists", "dicts", "dataset of dicts"])
def test_fit_on_lists_dicts_and_a_dataset_of_dicts(form):
    model = model_with(metrics=guide_metrics(), **GUIDE_COMPILE)
    data = {
        "lists": dict(x=[IMG, TS], y=[SCORE, CLASS], batch_size=16),
        "dicts": dict(x={"img_input": IMG, "ts_input": TS},
                      y={"score_output": SCORE, "class_output": CLASS}, batch_size=16),
        "dataset of dicts": dict(x=DataLoader(guide.DictDataset(IMG, TS, SCORE, CLASS),
                                              batch_size=16, shuffle=True)),
    }[form]
    history = model.fit(**data, epochs=2, validation_data=([IMG, TS], [SCORE, CLASS]),
                        verbose=0)
    assert list(history.history) == GUIDE_KEYS + [f"val_{key}" for key in GUIDE_KEYS]
    assert history.history["loss"][1] < history.history["loss"][0]


def test_total_loss_is_the_weighted_sum_plus_model_losses():
    class Regularized(guide.MultiInputMultiOutput):
        def __init__(self):
            super().__init__()
            self.penalty = Penalty()

        def forward(self, img_input, ts_input):
            outputs = super().forward(img_input, ts_input)
            self.penalty(outputs["score_output"])
            return outputs

    class Penalty(torchfit.Layer):
        def forward(self, inputs):
            self.add_loss(inputs.pow(2).mean() * 0.5)
            return inputs

    model = model_with(Regularized(), **GUIDE_COMPILE)
    logs = model.evaluate([IMG, TS], [SCORE, CLASS], batch_size=40, verbose=0, return_dict=True)
    extra = model.losses[0].item()
    expected = 2 * logs["score_output_loss"] + logs["class_output_loss"] + extra
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)
    with torch.no_grad():
        outputs = model.module(torch.from_numpy(IMG), torch.from_numpy(TS))
    mse = torch.nn.functional.mse_loss(outputs["score_output"], torch.from_numpy(SCORE)).item()
    assert logs["score_output_loss"] == pytest.approx(mse, rel=1e-5)


@pytest.mark.parametrize("loss, targets", [
    ([None, torchfit.losses.CategoricalCrossentropy()], [CLASS]),
    ({"class_output": torchfit.losses.CategoricalCrossentropy()}, {"class_output": CLASS}),
    ({"class_output": "categorical_crossentropy"}, CLASS),
])
def test_outputs_without_a_loss_need_no_target(loss, targets):
    model = model_with(loss=loss)
    history = model.fit([IMG, TS], targets, batch_size=16, epochs=1, verbose=0)
    assert list(history.history) == ["loss", "class_output_loss"]
    assert history.history["loss"] == pytest.approx(history.history["class_output_loss"])


def test_list_losses_and_list_of_lists_metrics_by_position():
    model = model_with(loss=[torchfit.losses.MeanSquaredError(),
                             torchfit.losses.CategoricalCrossentropy()],
                       metrics=[[torchfit.metrics.MeanAbsolutePercentageError(),
                                 torchfit.metrics.MeanAbsoluteError()],
                                [torchfit.metrics.CategoricalAccuracy()]],
                       loss_weights=[2.0, 1.0])
    history = model.fit([IMG, TS], [SCORE, CLASS], batch_size=16, epochs=1, verbose=0)
    assert list(history.history) == GUIDE_KEYS


class TupleOutputs(guide.MultiInputMultiOutput):
    def forward(self, img_input, ts_input):
        outputs = super().forward(img_input, ts_input)
        return outputs["score_output"], outputs["class_output"]


def test_tuple_outputs_are_named_by_output_names_or_by_position():
    model = model_with(TupleOutputs(), output_names=["score", "cls"], loss="mse",
                       metrics=["mae"])
    history = model.fit([IMG, TS], [SCORE, CLASS], batch_size=16, epochs=1, verbose=0)
    assert list(history.history) == ["loss", "score_loss", "cls_loss", "score_mae", "cls_mae"]
    # One loss applies to every output.
    assert history.history["loss"][0] == pytest.approx(
        history.history["score_loss"][0] + history.history["cls_loss"][0], rel=1e-5)
    unnamed = model_with(TupleOutputs(), loss="mse")
    history = unnamed.fit([IMG, TS], [SCORE, CLASS], batch_size=16, epochs=1, verbose=0)
    assert list(history.history) == ["loss", "output_1_loss", "output_2_loss"]
    predictions = unnamed.predict([IMG, TS], batch_size=16, verbose=0)
    assert isinstance(predictions, list) and [p.shape for p in predictions] == [(40, 1), (40, 5)]


def test_predict_concatenates_dict_outputs_for_every_input_kind():
    model = model_with(**GUIDE_COMPILE)
    expected = model.predict({"img_input": IMG, "ts_input": TS}, batch_size=7, verbose=0)
    assert set(expected) == {"score_output", "class_output"}
    assert expected["class_output"].shape == (40, 5)
    loader = DataLoader(guide.DictDataset(IMG, TS, SCORE, CLASS), batch_size=16)
    from_loader = model.predict(loader, verbose=0)
    for name in expected:
        np.testing.assert_allclose(from_loader[name], expected[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, fit_kwargs, message", [
    ({"loss": {"scores": "mse"}}, {}, r"Unknown output name\(s\) \['scores'\] in `loss`.*"
                                      r"Expected keys: 'score_output', 'class_output'"),
    ({"loss": "mse", "loss_weights": {"score": 2.0}}, {},
     r"\['score'\] in `loss_weights`"),
    ({"loss": "mse", "metrics": {"class": ["mae"]}}, {}, r"\['class'\] in `metrics`"),
    ({"loss": "mse"}, {"y": {"score_output": SCORE, "klass": CLASS}},
     r"Unknown output name\(s\) \['klass'\] in the targets"),
    ({"loss": ["mse"] * 3}, {}, r"`loss` has 3 entries but the model has 2 outputs"),
])
def test_unknown_output_names_fail_before_any_optimizer_step(kwargs, fit_kwargs, message):
    model = model_with(**kwargs)
    before = [p.clone() for p in model.parameters()]
    fit_kwargs = {"y": [SCORE, CLASS], **fit_kwargs}
    with pytest.raises(ValueError, match=message):
        model.fit([IMG, TS], **fit_kwargs, batch_size=16, epochs=1, verbose=0)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_guide_example_runs():
    model, histories, predictions = guide.main(epochs=2, verbose=0)
    for history in histories:
        assert list(history.history) == GUIDE_KEYS
    assert predictions["score_output"].shape == (100, 1)
    assert isinstance(model.module, nn.Module)


def test_a_mistyped_input_name_in_a_dataset_is_an_error_listing_forward_parameters():
    class Typo(guide.DictDataset):
        def __getitem__(self, i):
            inputs, targets = super().__getitem__(i)
            return {"img_inputs": inputs["img_input"], "ts_input": inputs["ts_input"]}, targets

    model = model_with(**GUIDE_COMPILE)
    with pytest.raises(ValueError, match=r"\['img_inputs'\] do not match the parameters of "
                                         r"MultiInputMultiOutput.forward: \['img_input', "
                                         r"'ts_input'\]"):
        model.fit(Typo(IMG, TS, SCORE, CLASS), epochs=1, verbose=0)


class _TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 1), nn.Linear(3, 1)

    def forward(self, x):
        return self.a(x), self.b(x)


def test_metric_instances_are_copied_per_output_and_results_grouped_per_output():
    # Keras (tf.keras 2 MetricsContainer, and Keras 3) groups each output's metrics, then its
    # weighted metrics; a weighted metric named like an unweighted one gets "weighted_".
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    y1, y2 = (rng.normal(size=(8, 1)).astype(np.float32) for _ in range(2))
    w = rng.uniform(0.1, 2.0, size=8).astype(np.float32)
    model = model_with(_TwoHeads(), loss="mse",
                       metrics=[torchfit.metrics.MeanSquaredError()],
                       weighted_metrics=[torchfit.metrics.MeanSquaredError()])
    results = model.evaluate(x, [y1, y2], sample_weight=w, batch_size=8, verbose=0)
    assert model.metrics_names == [
        "loss", "output_1_loss", "output_2_loss",
        "output_1_mean_squared_error", "output_1_weighted_mean_squared_error",
        "output_2_mean_squared_error", "output_2_weighted_mean_squared_error"]
    p1, p2 = model.predict(x, verbose=0)
    se1, se2 = ((p1 - y1) ** 2)[:, 0], ((p2 - y2) ** 2)[:, 0]
    loss1, loss2 = (se1 * w).mean(), (se2 * w).mean()  # Keras losses: sum over batch size
    expected = [loss1 + loss2, loss1, loss2, se1.mean(), (se1 * w).sum() / w.sum(),
                se2.mean(), (se2 * w).sum() / w.sum()]
    np.testing.assert_allclose(results, expected, rtol=1e-5)
    on_batch = model.test_on_batch(x, [y1, y2], sample_weight=w)
    np.testing.assert_allclose(on_batch, expected, rtol=1e-5)
    assert list(model.test_on_batch(x, [y1, y2], sample_weight=w, return_dict=True)) == \
        model.metrics_names
    assert list(model.train_on_batch(x, [y1, y2], sample_weight=w, return_dict=True)) == \
        model.metrics_names
