"""`set_random_seed`: one call to make a run repeatable."""

import random

import numpy as np
import torch


def set_random_seed(seed):
    """Seed Python's `random`, NumPy's global generator and torch, as `keras.utils.set_random_seed`.

    `torch.manual_seed` seeds the CPU generator and every CUDA (and MPS) device's generator, so
    weight initialisation, dropout and `shuffle=True` in `fit` repeat from run to run. It does not
    make GPU kernels deterministic: for that, also call
    `torch.use_deterministic_algorithms(True)`.

    Args:
        seed: An integer in [0, 2**32 - 1] (NumPy's range).

    Raises:
        TypeError: `seed` is not an int.
        ValueError: `seed` is out of range.

    Example:
        >>> set_random_seed(1337)
        >>> a = torch.rand(3)
        >>> set_random_seed(1337)
        >>> torch.equal(a, torch.rand(3))
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"`seed` must be an int. Received: seed={seed!r} of type {type(seed).__name__}."
        )
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"`seed` must be in [0, 2**32 - 1]. Received: seed={seed}.")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # covers all CUDA devices too (torch.cuda.manual_seed_all)


def get_rng_state():
    """Every global random state (torch CPU and CUDA, NumPy, Python) as tensors and plain values.

    The result loads with ``torch.load(weights_only=True)``: no pickled objects.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }


def set_rng_state(state):
    """Restores what :func:`get_rng_state` returned."""
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32),
                         numpy_state["pos"], numpy_state["has_gauss"],
                         numpy_state["cached_gaussian"]))
    python_state = state["python"]
    random.setstate((python_state["version"], tuple(python_state["internal"]),
                     python_state["gauss"]))
