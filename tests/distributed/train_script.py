"""A user's training script, run by tests/distributed/test_ddp_training.py in one process and
under torchrun.

``python train_script.py OUT CASE``: trains the case's model on the case's data (the same seed
everywhere), then writes ``OUT/rank<r>.npz`` with the History, the trained weights, evaluate's
results and predict's outputs, as every rank sees them, and the world size. ``CASE`` is a JSON
dict of options, or names from ``CASES`` joined by commas (``all``: every one), each then written
to ``OUT/<name>_rank<r>.npz``: one launch runs many cases. Cases vary the data kind, the batch
size (even or uneven last batch, a last batch of one sample), sample and class weights, and the
fit options.
"""

import json
import os
import sys

import numpy as np
import torch
from torch import nn

import torchfit
from worker import leave

# 16 samples a batch: 64 samples end on an even batch (8 per rank), 69 on one of 5 (3 and 2), 65
# on one of 1 (rank 1 gets nothing); evaluate and predict batch the same way. "fit": more fit
# arguments (steps_per_epoch=3: epochs go on where the last stopped, across passes).
CASES = {
    "even": {"samples": 64},
    "uneven": {"samples": 69},
    "last_one": {"samples": 65},
    "dataset": {"samples": 69, "data": "dataset"},
    "dataset_last_one": {"samples": 65, "data": "dataset"},
    "weighted": {"samples": 69, "weighted": True},
    "class_weight": {"samples": 69, "class_weight": True},
    "validation": {"samples": 69, "validation": True},
    "validation_split": {"samples": 69, "fit": {"validation_split": 0.2}},
    "steps_per_epoch": {"samples": 69, "epochs": 4, "fit": {"steps_per_epoch": 3}},
    "dataset_class_weight": {"samples": 69, "data": "dataset", "class_weight": True},
    "accumulation": {"samples": 69, "accumulation": 2, "clipnorm": 0.05, "optimizer": "sgd"},
}


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


def run(out, case, name=None):
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
    fit_kwargs.update(case.get("fit", {}))
    if kind == "arrays":
        history = model.fit(x, y, batch_size=case.get("batch_size", 16), **fit_kwargs)
    elif kind == "dataset":
        fit_kwargs.pop("sample_weight", None)
        history = model.fit(Pairs(x, y), batch_size=case.get("batch_size", 16), **fit_kwargs)
    else:
        raise ValueError(kind)
    eval_weights = weights if case.get("weighted") and kind == "arrays" else None
    results = model.evaluate(x, y, sample_weight=eval_weights,
                             batch_size=case.get("batch_size", 16), verbose=0, return_dict=True)
    predictions = model.predict(x, batch_size=case.get("eval_batch_size", 16), verbose=0)
    weights_out = {f"weight:{k}": v.detach().numpy() for k, v in
                   model.module.state_dict().items()}
    rank = torchfit.distributed.rank()
    prefix = "" if name is None else f"{name}_"
    np.savez(os.path.join(out, f"{prefix}rank{rank}.npz"),
             history=json.dumps(history.history), evaluate=json.dumps(results),
             predict=predictions, world_size=torchfit.distributed.world_size(), **weights_out)


def main(out, spec):
    if spec.startswith("{"):
        run(out, json.loads(spec))
        return
    for name in CASES if spec == "all" else spec.split(","):
        run(out, CASES[name], name)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    leave()
