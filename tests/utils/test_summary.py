"""torchfit.utils.summary: Keras's model.summary() table, shapes from one hooked forward pass."""

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from torchfit.utils import summary
from torchfit.utils.summary import count_params

import helpers  # noqa: F401  (puts examples/ on sys.path)
from multi_input_multi_output import MultiInputMultiOutput  # the guide's model


def guide_mlp():
    """The guide's 784-64-64-10 model (Keras: dense_1, dense_2, predictions)."""
    torch.manual_seed(0)
    return torchfit.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                               nn.Linear(64, 10), device="cpu")


def rows_of(text):
    """``{layer cell: (output shape cell, param cell)}`` of a printed table."""
    lines = text.splitlines()
    start, end = lines.index("=" * len(lines[1])) + 1, None
    body = [line for line in lines[start:] if line and line[0] not in "_="]
    rows = {}
    for line in body:
        if line.startswith(("Total params", "Trainable", "Non-trainable")):
            break
        cells = [line[:29].strip(), line[29:55].strip(), line[55:].strip()]
        rows[cells[0]] = tuple(cells[1:])
    return rows


def test_guide_mlp_table_rows_and_totals():
    printed = []
    text = summary(guide_mlp(), np.zeros((2, 784), np.float32), print_fn=printed.append)
    assert printed == text.splitlines()
    assert text.splitlines()[:4] == [
        'Model: "Sequential"', "_" * 65,
        "Layer (type)                 Output Shape              Param #", "=" * 65]
    assert rows_of(text) == {
        "0 (Linear)": ("(None, 64)", "50240"), "1 (ReLU)": ("(None, 64)", "0"),
        "2 (Linear)": ("(None, 64)", "4160"), "3 (ReLU)": ("(None, 64)", "0"),
        "4 (Linear)": ("(None, 10)", "650"),
    }
    # 784*64+64 + 64*64+64 + 64*10+10, as Keras prints it for the guide's model.
    assert text.splitlines()[-4:] == ["Total params: 55,050", "Trainable params: 55,050",
                                      "Non-trainable params: 0", "_" * 65]


def test_frozen_layers_and_batchnorm_statistics_are_non_trainable():
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    net[0].requires_grad_(False)
    text = summary(net, torch.zeros(3, 4), print_fn=None)
    # BatchNorm: weight + bias trainable, running mean + var not; num_batches_tracked is a counter.
    assert rows_of(text)["1 (BatchNorm1d)"] == ("(None, 8)", "32")
    assert count_params(net) == (40 + 32 + 18, 16 + 18, 40 + 16)
    assert text.splitlines()[-4:-1] == ["Total params: 90", "Trainable params: 34",
                                        "Non-trainable params: 56"]


def test_nested_modules_get_dotted_names_and_shared_weights_count_once():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.act = nn.Tanh()

        def forward(self, x):
            return self.act(self.fc(x))

    class Net(torchfit.Model):  # a subclassed torchfit Model defines forward itself
        def __init__(self):
            super().__init__(device="cpu")
            self.encoder = nn.Sequential(Block(), Block())
            self.head = nn.Linear(4, 1)
            self.tied = self.head  # registered twice: one row, counted once

        def forward(self, x):
            return self.head(self.encoder(x))

    text = summary(Net(), torch.zeros(5, 4), print_fn=None)
    assert text.splitlines()[0] == 'Model: "Net"'
    assert rows_of(text) == {
        "encoder (Sequential)": ("(None, 4)", "0"), "encoder.0 (Block)": ("(None, 4)", "0"),
        "encoder.0.fc (Linear)": ("(None, 4)", "20"), "encoder.0.act (Tanh)": ("(None, 4)", "0"),
        "encoder.1 (Block)": ("(None, 4)", "0"), "encoder.1.fc (Linear)": ("(None, 4)", "20"),
        "encoder.1.act (Tanh)": ("(None, 4)", "0"), "head (Linear)": ("(None, 1)", "5"),
    }
    assert "Total params: 45" in text


def test_two_inputs_by_name_and_dict_outputs():
    model = torchfit.Model(MultiInputMultiOutput(), device="cpu")
    inputs = {"img_input": np.zeros((2, 3, 32, 32)), "ts_input": np.zeros((2, 20, 10))}
    text = summary(model, inputs, print_fn=None)
    assert text.splitlines()[0] == 'Model: "MultiInputMultiOutput"'
    assert rows_of(text) == {
        "conv2d (Conv2d)": ("(None, 3, 30, 30)", "84"), "conv1d (Conv1d)": ("(None, 3, 18)", "93"),
        "score_output (Linear)": ("(None, 1)", "7"), "class_output (Linear)": ("(None, 5)", "35"),
    }
    # positional inputs (a list) are routed like fit() routes them: same table
    assert summary(model, [inputs["img_input"], inputs["ts_input"]], print_fn=None) == text


def test_dict_and_tuple_outputs_of_submodules_and_repeated_calls():
    class Heads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 1), nn.Linear(3, 2)

        def forward(self, x):
            return {"a": self.a(x), "b": self.b(x)}, (self.a(x[:1]),)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = Heads()

        def forward(self, x):
            return self.heads(x)

    lines = summary(Net(), torch.zeros(4, 3), print_fn=None).splitlines()
    row = {line.split()[0]: line for line in lines if line.startswith("heads")}
    assert row["heads"].split("(Heads)")[1].split() == \
        "[{a: (None, 1), b: (None, 2)}, [(1, 1)]] 0".split()
    # `a` is called twice with two shapes: both shown, in call order; the slice `x[:1]` is not
    # a batch of the input's size, so its 1 stays
    assert "(None, 1) | (1, 1)" in row["heads.a"] and "(None, 2)" in row["heads.b"]


def test_without_example_inputs_shapes_are_unknown_but_counts_are_not():
    text = summary(guide_mlp(), print_fn=None)
    assert {shape for shape, _ in rows_of(text).values()} == {"?"}
    assert "Total params: 55,050" in text


def test_uses_the_sample_the_model_stored_from_training_and_keeps_it():
    model = guide_mlp()
    model._example_inputs = torch.zeros(1, 784)
    assert rows_of(summary(model, print_fn=None))["4 (Linear)"] == ("(None, 10)", "650")
    summary(model, torch.zeros(3, 784), print_fn=None)
    assert model._example_inputs.shape == (1, 784)  # inspecting is not training


def test_training_mode_restored_and_no_hooks_left_behind():
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    net.train()
    net[2].eval()  # a per-module mode survives too
    seen = []
    net[1].register_forward_hook(lambda m, i, o: seen.append(m.training))
    summary(net, torch.zeros(2, 4), print_fn=None)
    assert seen == [False]  # measured in eval mode
    assert [m.training for m in net.modules()] == [True, True, True, False]
    assert len(net[1]._forward_hooks) == 1 and all(
        not m._forward_hooks for m in (net, net[0], net[2]))


def test_bad_example_inputs_name_the_argument():
    with pytest.raises(ValueError, match=r"could not run Sequential on `example_inputs`.*mat1"):
        summary(guide_mlp(), torch.zeros(2, 5), print_fn=None)


def test_line_length_truncates_like_keras_and_long_names_widen_the_table():
    narrow = summary(guide_mlp(), print_fn=None, line_length=40)
    assert max(len(line) for line in narrow.splitlines()) == 40
    net = nn.Sequential()
    net.add_module("a_really_long_descriptive_module_name", nn.Linear(2, 2))
    wide = summary(net, print_fn=None)
    assert "a_really_long_descriptive_module_name (Linear)" in wide


def test_model_summary_method_uses_the_last_inputs_seen():
    import numpy as np
    from torch import nn

    import torchfit

    model = torchfit.Model(nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64),
                                         nn.ReLU(), nn.Linear(64, 10)), device="cpu")
    lines = []
    model.summary(print_fn=lines.append)
    assert "?" in "\n".join(lines) and "Total params: 55,050" in lines
    model.predict(np.zeros((5, 784), np.float32), verbose=0)
    lines.clear()
    table = model.summary(print_fn=lines.append)
    assert "(None, 64)" in table and "(None, 10)" in table and "(1," not in table


def test_the_batch_dimension_reads_none_as_in_keras_whatever_the_batch_size():
    for batch in (1, 7):
        table = summary(guide_mlp(), torch.zeros(batch, 784), print_fn=None)
        assert {shape for shape, _ in rows_of(table).values()} == {"(None, 64)", "(None, 10)"}
        assert f"({batch}," not in table
