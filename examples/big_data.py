"""Data bigger than memory: fit and evaluate straight from a np.memmap and an HDF5 file.

The training images are written to a raw float32 file and opened with ``np.memmap``; the test set
to an HDF5 file, read with h5py. ``fit`` and ``evaluate`` take them as they take arrays: when they
would take more than a quarter of the free memory they are streamed, each batch read from disk
when it is needed (``torchfit.data.disk``); smaller ones are read whole, for the in-memory fast
path. These files are small, so the example sets ``LOAD_FRACTION = 0`` to stream them as a file
bigger than memory would be, and prints how far the peak memory of the process grew.

    python examples/big_data.py [--epochs 2]
"""

import argparse
import os
import resource
import tempfile

import h5py
import numpy as np

import torchfit
from getting_started import get_compiled_model, load_mnist


def reset_peak_memory():
    """Starts the peak RSS again from the current RSS (Linux); returns the current RSS in MB."""
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
    except OSError:
        pass  # elsewhere: the peak since the process started
    return peak_memory()


def peak_memory():
    """The process's peak resident memory so far, in MB."""
    try:
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def write_files(folder, x_train, x_test, y_test):
    """The training images as a raw memmap file, the test set as HDF5 datasets."""
    path = os.path.join(folder, "x_train.dat")
    written = np.memmap(path, dtype="float32", mode="w+", shape=x_train.shape)
    for start in range(0, len(x_train), 1000):  # as a big file is written: a slice at a time
        written[start:start + 1000] = x_train[start:start + 1000]
    written.flush()
    del written
    with h5py.File(os.path.join(folder, "test.h5"), "w") as file:
        file.create_dataset("x", data=x_test, chunks=(128, 784))
        file.create_dataset("y", data=y_test)
    return path


def main(epochs=2, verbose="auto"):
    torchfit.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_mnist()
    model = get_compiled_model()
    saved = torchfit.data.disk.LOAD_FRACTION
    with tempfile.TemporaryDirectory() as folder:
        path = write_files(folder, x_train, x_test, y_test)
        x = np.memmap(path, dtype="float32", mode="r", shape=x_train.shape)
        del x_train  # from here on the images live on disk only
        torchfit.data.disk.LOAD_FRACTION = 0.0  # stream even these small files
        try:
            kind = type(torchfit.data.get_adapter(x, y_train)).__name__
            start = reset_peak_memory()
            # validation_split takes views of the file (no copy); shuffle=True reads each batch
            # in increasing row order from a random 64 MiB block ("batch": whole batches).
            history = model.fit(x, y_train, batch_size=64, epochs=epochs, validation_split=0.1,
                                verbose=verbose)
            with h5py.File(os.path.join(folder, "test.h5"), "r") as test:
                results = model.evaluate(test["x"], test["y"], batch_size=128, verbose=verbose)
            growth = peak_memory() - start
        finally:
            torchfit.data.disk.LOAD_FRACTION = saved
        print(f"{kind} read {x.nbytes / 2**20:.1f} MB of training images from {path}")
    print("test loss, test acc:", results)
    print(f"peak memory grew by {growth:.1f} MB during fit and evaluate")
    return history, results, kind


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--verbose", default="auto",
                        type=lambda v: v if v == "auto" else int(v))
    args = parser.parse_args()
    main(args.epochs, args.verbose)
