"""``Model.save`` / ``Model.load``: a model's weights, optimizer state and training progress.

The file layout and its guarantees (atomic writes, nothing unpickled on load) are
``torchfit.saving``'s; this module decides what a model puts in it: the wrapped module's
``state_dict``, the optimizer's, the epochs completed and optimizer steps taken, and ``History``.
"""

from torchfit import saving
from torchfit.callbacks import History

__all__ = ["save_model", "load_model"]


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
    saving.save_checkpoint(
        filepath, model.weights_module().state_dict(),
        model.optimizer.state_dict() if model.optimizer is not None else None, training,
    )


def load_model(model, filepath):
    """Restores into ``model`` what ``save_model`` wrote (the optimizer state if it is compiled)."""
    checkpoint = saving.load_checkpoint(filepath, map_location=model.device)
    model.weights_module().load_state_dict(checkpoint["model"])
    if checkpoint["optimizer"] is not None and model.optimizer is not None:
        model.optimizer.load_state_dict(checkpoint["optimizer"])
    training = checkpoint["training"] or {}
    if "history" in training:
        model.history = History()
        model.history.history = training["history"]
        model.history.epoch = training["epochs"]
