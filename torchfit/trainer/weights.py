"""``WeightsMixin``: the weights and files of a ``Model`` (save / load, export).

``Model`` inherits these methods; they decide which states a file holds (the wrapped module's
``state_dict`` under its own keys, the optimizer's; under FSDP the full tensors gathered from
the shards, see ``torchfit.distributed``) and leave formats to ``torchfit.saving`` and
``trainer/checkpoint.py``.
"""

from torchfit import saving
from torchfit.distributed import runtime
from torchfit.saving.export import export_model
from torchfit.trainer import checkpoint

__all__ = ["WeightsMixin"]


class WeightsMixin:
    """``save_weights`` / ``load_weights``, ``save`` / ``load`` and ``export`` of a ``Model``."""

    def weights_module(self):
        return self.module if self.module is not None else self

    def save_weights(self, filepath):
        """Writes the weights (``.pt``, ``.h5`` or ``.safetensors``) under the wrapped module's
        keys, atomically.

        Under ``torchrun`` rank 0 writes (see ``docs/distributed.md``); with
        ``strategy="fsdp"`` every rank must call it: the full weights are gathered from the
        shards, and every rank returns once the file is written."""
        saving.save_state_dict(self._states_to_save(optimizer=False)[0], filepath)
        self._after_save()

    def _after_save(self):
        # FSDP's save is collective anyway: wait for rank 0's write, so any rank can read it next.
        if self._strategy is not None and self._strategy.shards_states:
            runtime.barrier()

    def _load_states(self, model_state, optimizer_state=None, strict=True):
        """Loads a file's module (and optimizer) state; under FSDP into the shards (strict)."""
        if self._strategy is not None and self._strategy.shards_states:
            self._strategy.load_full_states(self, model_state, optimizer_state)
            return
        self.weights_module().load_state_dict(model_state, strict=strict)
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)

    def _states_to_save(self, optimizer=True):
        """``(module state_dict, optimizer state_dict or None)`` as files hold them: the bare
        module's keys, and under FSDP the full tensors gathered from the shards."""
        if self._strategy is not None:
            return self._strategy.states_to_save(self, optimizer)
        optimizer = self.optimizer if optimizer else None
        return (self.weights_module().state_dict(),
                optimizer.state_dict() if optimizer is not None else None)

    def load_weights(self, filepath, strict=True):
        """Loads weights written by ``save_weights``/``save`` (or a plain module state_dict).

        All or nothing: a file that does not match (keys, shapes, dtypes) raises a
        ``ValueError`` listing every problem, and no weight changes. ``strict=False`` skips
        missing and unexpected keys (shapes and dtypes must still match).
        """
        checkpoint.load_weights(self, filepath, strict)

    def save(self, filepath):
        """Writes weights, optimizer state, epoch and step, and ``History`` atomically.

        The file restores into a model built from the same code with ``load``; it holds tensors
        and plain values only, so loading never unpickles objects. Under ``torchrun``: as
        ``save_weights``.
        """
        checkpoint.save_model(self, filepath)
        self._after_save()

    def load(self, filepath):
        """Restores what ``save`` wrote. Compile first to restore the optimizer state too.

        All or nothing, as ``load_weights``: the weights and optimizer state are checked first.
        """
        checkpoint.load_model(self, filepath)

    def export(self, filepath, format="torch", example_inputs=None):
        """Writes the wrapped module for serving: a ``torch.export`` program (``.pt2``, loads
        with ``torch.export.load``) or, with ``format="onnx"``, an ONNX model; the batch
        dimension is dynamic. Traced on ``example_inputs``, else on the sample ``fit`` /
        ``predict`` saw; see ``torchfit.saving.export``.
        """
        export_model(self, filepath, format, example_inputs)
