"""Export for serving: a trained MNIST model as a `torch.export` program and as ONNX.

Trains a small convolutional network on the bundled MNIST sample, then writes

* `mnist.safetensors`: the weights (loads with `safetensors.torch.load_file` into the bare module),
* `mnist.pt2`: a `torch.export` ExportedProgram (runs with `torch.export.load(path).module()`),
* `mnist.onnx`: an ONNX model (runs in ONNX Runtime), needing the `export` extra,

each with a dynamic batch dimension, and checks that both exported files compute what `predict`
computes on the 10,000 test images.

    python examples/export.py [--directory exported] [--epochs 1]
"""

import argparse
import os

import numpy as np
import torch
from torch import nn

import torchfit


def load_images():
    """The bundled sample as float32 images (N, 1, 28, 28) in [0, 1]."""
    (x_train, y_train), (x_test, y_test) = torchfit.datasets.mnist.load_data(sample=True)
    x_train = x_train[:, None].astype("float32") / 255
    x_test = x_test[:, None].astype("float32") / 255
    return (x_train, y_train), (x_test, y_test)


def get_model():
    model = torchfit.Model(nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * 13 * 13, 10),
    ))
    model.compile(optimizer="adam",
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def main(directory="exported", epochs=1, verbose="auto"):
    torchfit.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_images()
    model = get_model()
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=verbose)
    accuracy = model.evaluate(x_test, y_test, batch_size=500, verbose=0, return_dict=True)
    expected = model.predict(x_test, batch_size=500, verbose=0)

    os.makedirs(directory, exist_ok=True)
    paths = {name: os.path.join(directory, f"mnist.{name}") for name in
             ("safetensors", "pt2", "onnx")}
    model.save_weights(paths["safetensors"])
    model.export(paths["pt2"])  # traced on the sample fit saw; the batch stays dynamic
    model.export(paths["onnx"], format="onnx")

    program = torch.export.load(paths["pt2"]).module()
    with torch.no_grad():
        from_program = program(torch.from_numpy(x_test).to(model.device)).cpu().numpy()

    import onnxruntime  # the `export` extra: pip install torchfit[export]

    session = onnxruntime.InferenceSession(paths["onnx"], providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    from_onnx = np.concatenate([session.run(None, {input_name: x_test[i:i + 1000]})[0]
                                for i in range(0, len(x_test), 1000)])
    differences = {"pt2": float(np.abs(from_program - expected).max()),
                   "onnx": float(np.abs(from_onnx - expected).max())}
    agree = (np.allclose(from_program, expected, rtol=1e-5, atol=1e-5)
             and np.allclose(from_onnx, expected, rtol=1e-4, atol=1e-4))
    print(f"test accuracy {accuracy['accuracy']:.4f}; exported {paths['pt2']} and "
          f"{paths['onnx']}: max |difference| from predict {differences['pt2']:.2e} (pt2), "
          f"{differences['onnx']:.2e} (ONNX Runtime) on {len(x_test)} images: "
          f"{'they agree' if agree else 'THEY DISAGREE'}")
    return {"accuracy": accuracy["accuracy"], "differences": differences, "agree": agree,
            "paths": paths}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", default="exported")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--verbose", default="auto",
                        type=lambda v: v if v == "auto" else int(v))
    args = parser.parse_args()
    main(args.directory, args.epochs, args.verbose)
