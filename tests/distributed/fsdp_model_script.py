"""``Model.compile(strategy="fsdp")`` end to end, in one process (no strategy) or under torchrun.

``python fsdp_model_script.py OUT``: trains, evaluates and predicts, saves the weights and a
full checkpoint through ``save_weights`` / ``ModelCheckpoint``, loads the weights into a freshly
sharded model, and writes ``OUT/rank<r>.npz`` with what each rank saw.
"""

import json
import os
import sys

import numpy as np
import torch
from torch import nn

import torchfit
from worker import leave


def make_model(strategy):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 3))
    model = torchfit.Model(net, device="cpu")
    model.compile(optimizer="adam", metrics=["accuracy"], strategy=strategy,
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def main(out):
    strategy = "fsdp" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None
    rng = np.random.default_rng(0)
    x = rng.normal(size=(45, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0.5).astype("int64")
    model = make_model(strategy)
    checkpoint = torchfit.callbacks.ModelCheckpoint(os.path.join(out, "epoch{epoch}.pt"))
    history = model.fit(x, y, batch_size=14, epochs=3, verbose=0, callbacks=[checkpoint])
    results = model.evaluate(x, y, batch_size=14, verbose=0, return_dict=True)
    predictions = model.predict(x, batch_size=14, verbose=0)
    model.save_weights(os.path.join(out, "weights.pt"))
    fresh = make_model(strategy)
    fresh.load_weights(os.path.join(out, "weights.pt"))
    reloaded = fresh.predict(x, batch_size=14, verbose=0)
    restored = make_model(strategy)
    restored.load(os.path.join(out, "epoch3.pt"))
    rank = torchfit.distributed.rank()
    np.savez(os.path.join(out, f"rank{rank}.npz"), history=json.dumps(history.history),
             evaluate=json.dumps(results), predict=predictions, reloaded=reloaded,
             restored=restored.predict(x, batch_size=14, verbose=0))


if __name__ == "__main__":
    main(sys.argv[1])
    leave()
