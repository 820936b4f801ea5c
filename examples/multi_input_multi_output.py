"""The guide's "Passing data to multi-input, multi-output models", the PyTorch way.

An image input (3, 32, 32) and a time-series input (20, 10); a score output and a 5-class output.
`forward` takes the inputs by name and returns a dict, so the outputs are named by its keys.
Trained on lists, on dicts, and on a Dataset of dicts.

    python examples/multi_input_multi_output.py
"""

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import torchfit


class MultiInputMultiOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv2d = nn.Conv2d(3, 3, 3)
        self.conv1d = nn.Conv1d(10, 3, 3)
        self.score_output = nn.Linear(6, 1)
        self.class_output = nn.Linear(6, 5)

    def forward(self, img_input, ts_input):
        x1 = self.conv2d(img_input).amax(dim=(2, 3))               # GlobalMaxPooling2D
        x2 = self.conv1d(ts_input.transpose(1, 2)).amax(dim=2)     # GlobalMaxPooling1D
        x = torch.cat([x1, x2], dim=1)
        return {"score_output": self.score_output(x),
                "class_output": self.class_output(x).softmax(dim=-1)}


def dummy_data(samples=100, seed=0):
    """The guide's random data (channels first, as PyTorch images are)."""
    rng = np.random.default_rng(seed)
    img_data = rng.random((samples, 3, 32, 32), dtype=np.float32)
    ts_data = rng.random((samples, 20, 10), dtype=np.float32)
    score_targets = rng.random((samples, 1), dtype=np.float32)
    class_targets = rng.random((samples, 5), dtype=np.float32)
    return img_data, ts_data, score_targets, class_targets


class DictDataset(Dataset):
    """Items `({'img_input', 'ts_input'}, {'score_output', 'class_output'})`, like the guide's
    `tf.data.Dataset.from_tensor_slices` of a tuple of dicts."""

    def __init__(self, img_data, ts_data, score_targets, class_targets):
        self.arrays = img_data, ts_data, score_targets, class_targets

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, i):
        img, ts, score, cls = (a[i] for a in self.arrays)
        return {"img_input": img, "ts_input": ts}, {"score_output": score, "class_output": cls}


def get_compiled_model():
    model = torchfit.Model(MultiInputMultiOutput())
    model.compile(
        optimizer=torchfit.optimizers.RMSprop(1e-3),
        loss={"score_output": torchfit.losses.MeanSquaredError(),
              "class_output": torchfit.losses.CategoricalCrossentropy()},
        metrics={"score_output": [torchfit.metrics.MeanAbsolutePercentageError(),
                                  torchfit.metrics.MeanAbsoluteError()],
                 "class_output": [torchfit.metrics.CategoricalAccuracy()]},
        loss_weights={"score_output": 2., "class_output": 1.})
    return model


def main(epochs=3, verbose="auto"):
    torchfit.utils.set_random_seed(0)
    img_data, ts_data, score_targets, class_targets = dummy_data()
    model = get_compiled_model()

    # Fit on lists: inputs by position, targets in the order of the outputs.
    on_lists = model.fit([img_data, ts_data], [score_targets, class_targets],
                         batch_size=32, epochs=epochs, verbose=verbose)
    # Alternatively, fit on dicts.
    on_dicts = model.fit({"img_input": img_data, "ts_input": ts_data},
                         {"score_output": score_targets, "class_output": class_targets},
                         batch_size=32, epochs=epochs, verbose=verbose)
    # Here's the Dataset use case: items are a tuple of dicts.
    train_dataset = DataLoader(DictDataset(img_data, ts_data, score_targets, class_targets),
                               batch_size=64, shuffle=True)
    on_dataset = model.fit(train_dataset, epochs=epochs, verbose=verbose)

    predictions = model.predict({"img_input": img_data, "ts_input": ts_data}, verbose=0)
    print({name: value.shape for name, value in predictions.items()})
    return model, (on_lists, on_dicts, on_dataset), predictions


if __name__ == "__main__":
    main()
