"""A user's training script, run by tests/distributed/test_ddp.py in one process and under torchrun.

``python train_script.py OUT CASE``: trains the case's model on the case's data (the same seed
everywhere), then writes ``OUT/rank<r>.npz`` with the History, the trained weights, evaluate's
results and predict's outputs, as every rank sees them. Cases (``CASES``) vary the data kind,
the batch size (even or uneven last batch), sample and class weights, and the fit options.
"""

import json
import os
import sys

import numpy as np
import torch
from torch import nn

import torchfit


def data(samples=70, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, features)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64") + (x[:, 2] > 1).astype("int64")
    weights = rng.uniform(0.5, 2.0, size=samples).astype("float32")
    return x, y % classes, weights


class Pairs(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return torch.from_numpy(self.x[index]), torch.tensor(self.y[index])


def build(case):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    model = torchfit.Model(net, device="cpu")
    model.compile(optimizer=case.get("optimizer", "adam"),
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy", torchfit.metrics.AUC(name="auc", multi_label=False)
                           if case.get("auc") else "sparse_categorical_crossentropy"],
                  weighted_metrics=["accuracy"] if case.get("weighted") else None,
                  gradient_accumulation_steps=case.get("accumulation", 1),
                  global_clipnorm=case.get("clipnorm"),
                  precision=case.get("precision", "32"))
    return model


def run(out, case):
    x, y, weights = data(case.get("samples", 70))
    model = build(case)
    kind = case.get("data", "arrays")
    fit_kwargs = {"epochs": case.get("epochs", 3), "verbose": case.get("verbose", 0),
                  "shuffle": case.get("shuffle", True)}
    if case.get("weighted"):
        fit_kwargs["sample_weight"] = weights
    if case.get("class_weight"):
        fit_kwargs["class_weight"] = {0: 1.0, 1: 2.0, 2: 0.5}
    if case.get("validation"):
        fit_kwargs["validation_data"] = (x[:25], y[:25])
    if kind == "arrays":
        history = model.fit(x, y, batch_size=case.get("batch_size", 16), **fit_kwargs)
    elif kind == "dataset":
        fit_kwargs.pop("sample_weight", None)
        history = model.fit(Pairs(x, y), batch_size=case.get("batch_size", 16), **fit_kwargs)
    else:
        raise ValueError(kind)
    results = model.evaluate(x, y, batch_size=case.get("batch_size", 16), verbose=0,
                             return_dict=True)
    predictions = model.predict(x, batch_size=case.get("eval_batch_size", 16), verbose=0)
    weights_out = {f"weight:{k}": v.detach().numpy() for k, v in
                   model.module.state_dict().items()}
    rank = torchfit.distributed.rank()
    np.savez(os.path.join(out, f"rank{rank}.npz"),
             history=json.dumps(history.history), evaluate=json.dumps(results),
             predict=predictions, **weights_out)


if __name__ == "__main__":
    run(sys.argv[1], json.loads(sys.argv[2]))
