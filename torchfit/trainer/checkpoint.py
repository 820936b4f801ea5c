"""``Model.save`` / ``Model.load``: a model's weights, optimizer state and training progress.

The file layout and its guarantees (atomic writes, nothing unpickled on load) are
``torchfit.saving``'s; this module decides what a model puts in it: the wrapped module's
``state_dict``, the optimizer's, the epochs completed and optimizer steps taken, and ``History``.
"""

from torchfit import saving
from torchfit.callbacks import History
from torchfit.saving.validate import check_loadable

__all__ = ["save_model", "load_model", "load_weights"]


def save_model(model, filepath):
    """Writes ``model``'s weights, optimizer state, epoch and step, and ``History`` to ``filepath``.

    Example:
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> _ = model.fit(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"), verbose=0)
        >>> save_model(model, "model.pt")
        >>> restored = torchfit.Sequential(nn.Linear(3, 1))
        >>> load_model(restored, "model.pt")
        >>> restored.history.epoch, torch.equal(restored.module[0].weight, model.module[0].weight)
        ([0], True)
    """
    history = model.history
    training = {
        # Epochs completed, and optimizer steps taken (torchfit optimizers count them).
        "epoch": history.epoch[-1] + 1 if history is not None and history.epoch else 0,
        "step": getattr(model.optimizer, "iterations", 0),
    }
    if history is not None:
        training["history"] = {key: list(values) for key, values in history.history.items()}
        training["epochs"] = list(history.epoch)
    saving.save_checkpoint(filepath, *model._states_to_save(), training)


def load_weights(model, filepath, strict=True):
    """Loads the weights of a weights file or checkpoint into ``model``: all of them, or none.

    A ``.pt`` file's checksum is verified, and a ``.h5`` file's datasets are read only if they
    fit the model (``like=``), so a damaged or hostile file raises a ``ValueError`` before
    anything large is allocated. The whole file is checked first
    (``torchfit.saving.validate``): a missing, unexpected or mismatched key (shape or dtype)
    raises one ``ValueError`` listing them all, and nothing is copied. With ``strict=False``
    missing and unexpected keys are skipped and the rest loads; a shape or dtype mismatch is
    still refused.

    Example:
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.save_weights("linear.h5")
        >>> load_weights(torchfit.Sequential(nn.Linear(3, 2)), "linear.h5")
        Traceback (most recent call last):
        ...
        ValueError: Could not load 'linear.h5' into Sequential: the file does not match the \
model; nothing was loaded. Mismatched (2): '0.weight' has float32 (1, 3) in the file, float32 \
(2, 3) in the model; '0.bias' has float32 (1,) in the file, float32 (2,) in the model. To load \
it, build the model that wrote the file (same layers, sizes and dtypes), or pass strict=False to \
skip missing and unexpected keys.
    """
    module = model.weights_module()
    # like=: a .h5 dataset that does not fit the module is never read (no allocation from a
    # header that declares a huge shape); the check below reports it.
    state = saving.load_state_dict(filepath, map_location=model.device, like=module.state_dict())
    check_loadable(filepath, module, state, strict)
    model._load_states(state, strict=strict)


def load_model(model, filepath):
    """Restores into ``model`` what ``save_model`` wrote (the optimizer state if it is compiled).

    All or nothing: the weights and the optimizer state are checked against the model first
    (``torchfit.saving.validate``); a mismatch raises a ``ValueError`` listing every problem and
    leaves the weights, the optimizer and ``model.history`` as they were.
    """
    module = model.weights_module()
    checkpoint = saving.load_checkpoint(filepath, map_location=model.device,
                                        like=module.state_dict())
    optimizer_state = checkpoint["optimizer"] if model.optimizer is not None else None
    sharded = model._strategy is not None and model._strategy.shards_states
    check_loadable(filepath, module, checkpoint["model"],
                   optimizer=None if sharded else model.optimizer,  # FSDP's: by name, checked
                   optimizer_state=None if sharded else optimizer_state,  # when loaded
                   hint="load the weights alone with `load_weights(path, strict=False)`, which "
                        "skips missing and unexpected keys")
    model._load_states(checkpoint["model"], optimizer_state)
    training = checkpoint["training"] or {}
    if "history" in training:
        model.history = History()
        model.history.history = training["history"]
        model.history.epoch = training["epochs"]
