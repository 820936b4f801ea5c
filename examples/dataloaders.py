"""The guide's "Training & evaluation from tf.data Datasets", with torch Datasets and DataLoaders.

- fit / evaluate / predict on a DataLoader (it batches and shuffles itself);
- `steps_per_epoch`: only 50 batches per epoch, continuing where the last epoch stopped;
- a validation DataLoader, and `validation_steps`;
- sample weights as the third element of each item.

    python examples/dataloaders.py
"""

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

import torchfit
from getting_started import get_compiled_model, load_mnist


def main(epochs=3, verbose="auto"):
    torchfit.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_mnist()
    x_val, y_val = x_train[-1000:], y_train[-1000:]
    x_train, y_train = x_train[:-1000], y_train[:-1000]

    # First, let's create a training DataLoader: shuffled batches of 64.
    train_dataset = DataLoader(TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train)),
                               batch_size=64, shuffle=True)
    # Now we get a test dataset.
    test_dataset = DataLoader(TensorDataset(torch.from_numpy(x_test), torch.from_numpy(y_test)),
                              batch_size=64)

    model = get_compiled_model()
    # Since the DataLoader already takes care of batching, we don't pass a `batch_size`.
    history = model.fit(train_dataset, epochs=epochs, verbose=verbose)
    # You can also evaluate or predict on a dataset.
    result = model.evaluate(test_dataset, verbose=verbose, return_dict=True)
    print("evaluate:", result)

    # Only use 50 batches per epoch (that's 64 * 50 samples); the iterator is not reset.
    model = get_compiled_model()
    model.fit(train_dataset, epochs=epochs, steps_per_epoch=50, verbose=verbose)

    # A validation dataset, run for 10 batches at the end of each epoch.
    val_dataset = DataLoader(TensorDataset(torch.from_numpy(x_val), torch.from_numpy(y_val)),
                             batch_size=64)
    model = get_compiled_model()
    with_validation = model.fit(train_dataset, epochs=epochs, validation_data=val_dataset,
                                validation_steps=10, verbose=verbose)

    # Sample weights as the third element of each item: class 5 counts twice.
    sample_weight = np.ones(shape=(len(y_train),), dtype="float32")
    sample_weight[y_train == 5] = 2.
    weighted = DataLoader(TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train),
                                        torch.from_numpy(sample_weight)),
                          batch_size=64, shuffle=True)
    model = get_compiled_model()
    weighted_history = model.fit(weighted, epochs=epochs, verbose=verbose)
    return history, result, with_validation, weighted_history


if __name__ == "__main__":
    main()
