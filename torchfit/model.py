"""Model: an ``nn.Module`` with Keras's ``compile`` / ``fit`` / ``evaluate`` / ``predict``.

``fit``, ``evaluate`` and ``predict`` only validate their arguments and assemble the pieces (data
adapters, epoch iterators, callbacks); the loops live in ``torchfit/trainer/loops.py``. The work of
one batch happens in ``train_step`` / ``test_step`` / ``predict_step``, which call
``compute_loss`` and ``compute_metrics``: override those to customise training. Weights and
files (``save_weights`` / ``load_weights``, ``save`` / ``load``, ``export``) come from
``torchfit/trainer/weights.py``.
"""

import itertools

import torch
from torch import nn
from torch.nn.modules import module as _torch_module

from torchfit import callbacks as callbacks_module
from torchfit import data as data_module
from torchfit import nest, optimizers
from torchfit.distributed.reduce import DistributedMetricLogs
from torchfit.distributed.strategy import resolve_strategy
from torchfit.logs import MetricLogs, to_floats
from torchfit.trainer import arguments, loops, lr_finder
from torchfit.trainer.additions import Additions
from torchfit.trainer.arguments import NotCompiledError, resolve_device  # noqa: F401 (re-exported)
from torchfit.trainer.compile_utils import CompiledLoss, CompiledMetrics
from torchfit.trainer.epoch_iterator import EpochIterator
from torchfit.trainer.inputs import (
    check_input_names,
    checked_forward,
    first_batch_check,
    floating_dtype,
    forward_keywords,
)
from torchfit.trainer.jit import check_jit_compile, set_jit
from torchfit.trainer.step import StepPolicy
from torchfit.trainer.weights import WeightsMixin
from torchfit.utils.summary import summary as summary_table
from torchfit.utils.validation import check_kwargs

__all__ = ["Model", "NotCompiledError", "resolve_device"]


def _hookless(module):
    """Whether ``nn.Module.__call__`` would call ``module.forward`` straight away: no hooks of
    its own or global, no ``nn.Module.compile``, no TorchScript tracing (its fast path)."""
    return not (module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
                or module._backward_pre_hooks or module._compiled_call_impl is not None
                or _torch_module._global_forward_hooks or _torch_module._global_forward_pre_hooks
                or _torch_module._global_backward_hooks
                or _torch_module._global_backward_pre_hooks or torch._C._get_tracing_state())


class Model(WeightsMixin, nn.Module):
    """Keras's training API on a PyTorch module.

    Wrap an existing module, or subclass and define ``forward``:

    Example:
        >>> net = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
        >>> model = torchfit.Model(net)
        >>> model.compile(optimizer="rmsprop", loss=torchfit.losses.SparseCategoricalCrossentropy(
        ...     from_logits=True), metrics=["accuracy"])
        >>> (x_train, y_train), _ = torchfit.datasets.mnist.load_data(sample=True)
        >>> x_train = x_train[:256].reshape(-1, 784).astype("float32") / 255
        >>> history = model.fit(x_train, y_train[:256], batch_size=64, epochs=1, verbose=0)
        >>> len(history.epoch)
        1

    Args:
        module: the ``nn.Module`` to train (kept as ``model.module``); ``None`` when subclassing.
        device: ``"auto"`` (CUDA, then MPS, then CPU), or any torch device.
        output_names: names of the outputs when ``forward`` returns a tuple or list.
    """

    def __init__(self, module=None, device="auto", output_names=None):
        super().__init__()
        if module is not None and not isinstance(module, nn.Module):
            raise TypeError(
                "torchfit.Model wraps a torch.nn.Module. Received: "
                f"{type(module).__name__}. Pass an nn.Module, or subclass torchfit.Model and "
                "define `forward`."
            )
        self.module = module
        self.device = arguments.resolve_device(device)
        self.output_names = list(output_names) if output_names is not None else None
        self.stop_training = False
        self.history = None
        self.optimizer = None
        self.compiled = False
        self.compiled_loss = None
        self.compiled_metrics = None
        self._forward_names = False  # not looked up yet
        self._additions = Additions()  # add_loss / add_metric, from Layers, callables and hooks
        self._adds_nothing = False  # known after the first call: then a plain module call
        self._metric_logs = None
        self._example_inputs = None  # one sample of the first inputs seen, for summary()
        self._check_forward = False  # the next forward names a layer that refuses its inputs
        self._fit_context = None  # the FitContext while fit runs (trainer.loops.run_fit)
        self._step = StepPolicy("32", self.device)
        self._strategy = None  # compile's torchfit.distributed.strategy.Strategy, if distributed
        if module is not None:
            module.to(self.device)

    def forward(self, *args, **kwargs):
        if self.module is None:
            raise NotImplementedError(
                "torchfit.Model has no module to run. Either wrap one, torchfit.Model(my_module), "
                "or subclass torchfit.Model and define `forward`."
            )
        return self.module(*args, **kwargs)

    # ------------------------------------------------------------------ attributes
    @property
    def trainable_weights(self):
        return [p for p in self.parameters() if p.requires_grad]

    @property
    def non_trainable_weights(self):
        return [p for p in self.parameters() if not p.requires_grad] + list(self.buffers())

    @property
    def weights(self):
        return self.trainable_weights + self.non_trainable_weights

    def __call__(self, *args, **kwargs):
        """Runs ``forward``; clears, then gathers, the losses and metrics added during the call."""
        if self._strategy is not None and self._strategy.routes(self):  # DDP, when training
            return self._strategy.forward(self, args, kwargs)
        if self._adds_nothing:  # no Layer, no add_loss / add_metric: a plain module call
            if _hookless(self):  # what nn.Module.__call__ would do, without its two frames
                return self.forward(*args, **kwargs)
            return super().__call__(*args, **kwargs)
        self._additions.begin_call(self)
        outputs = super().__call__(*args, **kwargs)
        self._additions.end_call()
        self._adds_nothing = self._additions.empty(self)
        return outputs

    @property
    def losses(self):
        """Losses added during the last forward call (``Layer.add_loss`` and ``model.add_loss``)."""
        return self._additions.losses(self)

    def add_loss(self, loss, on=None):
        """Adds a loss computed at every forward call, added to the training loss by ``fit``.

        Args:
            loss: without ``on``, a zero-argument callable (e.g. a weight penalty
                ``lambda: 1e-4 * net.fc.weight.pow(2).sum()``); with ``on``, a callable of that
                submodule's output (an activity penalty ``lambda out: 0.1 * out.sum()``).
            on: the name of a submodule (as in ``named_modules()`` of the wrapped module), or
                ``""`` for the whole model's output (a forward hook on ``weights_module()``).

        Raises:
            TypeError: for a callable that needs arguments without ``on`` (or cannot take the
                output with ``on``), at this call.

        Example:
            >>> net = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
            >>> model = torchfit.Model(net, device="cpu")
            >>> model.add_loss(lambda: 1e-4 * net[0].weight.pow(2).sum())  # a weight penalty
            >>> model.add_loss(lambda out: 0.1 * out.abs().mean(), on="0")  # a submodule's output
            >>> model.add_loss(lambda out: 0.1 * out.pow(2).mean(), on="")  # the model's output
            >>> _ = model(torch.ones(4, 3))
            >>> len(model.losses)
            3
        """
        self._additions.add_loss(loss, on, self.weights_module())
        self._adds_nothing = False

    def add_metric(self, metric, name, aggregation="mean", on=None):
        """Logs a value computed at every forward call as metric ``name``, aggregated per epoch.

        Args:
            metric: a zero-argument callable, or with ``on`` a callable of that submodule's output
                (e.g. ``lambda out: out.std()``), returning a scalar tensor.
            name: the log key.
            aggregation: ``"mean"`` or ``"sum"`` over the batches of an epoch.
            on: the name of a submodule, or ``""`` for the whole model's output.
        """
        self._additions.add_metric(metric, name, aggregation, on, self.weights_module())
        self._adds_nothing = False

    @property
    def metrics(self):
        """The loss trackers, then the compiled metrics (after the first batch)."""
        if not self.compiled:
            return []
        return (self.compiled_loss.metrics + self.compiled_metrics.metrics
                + list(self._additions.trackers.values()))

    @property
    def metrics_names(self):
        return [metric.name for metric in self.metrics]

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=False, jit_compile=False, precision="32",
                gradient_accumulation_steps=1, clipnorm=None, clipvalue=None,
                global_clipnorm=None, skip_nonfinite_steps=False, strategy="auto",
                sync_batchnorm=False, **kwargs):
        """Configures the model for training.

        Args:
            optimizer: a name (``"rmsprop"``), a ``torchfit.optimizers`` instance, a
                ``torch.optim.Optimizer`` instance (used as is) or class.
            loss: a name, a ``torchfit.losses`` object (Keras order ``loss(y_true, y_pred)``),
                any ``nn.Module`` that is not a ``torchfit.losses.Loss`` -- ``torch.nn`` losses
                and your own ``forward(input, target)`` -- (torch order ``loss(y_pred,
                y_true)``), any other callable ``fn(y_true, y_pred)`` (Keras order), or a
                list/dict of those by output (``None``: that output has no loss, e.g. when
                ``compute_loss`` is overridden).
            metrics: metric names or objects (``torchfit.metrics``, torchmetrics), or a list of
                lists / dict by output. ``"accuracy"`` is resolved from the loss and shapes.
            loss_weights: weights of the per-output losses in the total, as a list or dict.
            weighted_metrics: metrics that also take the sample weights.
            run_eagerly: accepted for Keras compatibility; torch always runs eagerly.
            jit_compile: ``True``, a dict of ``torch.compile`` options (e.g.
                ``{"mode": "max-autotune"}``) or a mode name (``"default"``,
                ``"reduce-overhead"`` for CUDA graphs, ``"max-autotune"``,
                ``"max-autotune-no-cudagraphs"``) to compile the forward pass; if compilation
                fails, a one-line warning and the eager forward (see ``torchfit.trainer.jit``).
            precision: ``"32"``, ``"bf16-mixed"`` or ``"16-mixed"`` (autocast; losses and
                metrics in float32; a GradScaler for float16).
            gradient_accumulation_steps: apply the optimizer every N batches, on the average of
                their gradients: N batches of size B give the update of one batch of N·B.
            clipnorm: clip each gradient's L2 norm to this, separately (Keras's ``clipnorm``).
            clipvalue: clamp each gradient element to ``[-clipvalue, clipvalue]`` (torch's
                ``clip_grad_value_``).
            global_clipnorm: clip the joint norm of all gradients, exactly as
                ``torch.nn.utils.clip_grad_norm_(params, global_clipnorm)``. The three work with
                any optimizer (torch instances included), between backward and the step, after
                the float16 GradScaler has unscaled the gradients. Not together with a torchfit
                optimizer that clips itself (``SGD(clipnorm=1.0)``): set clipping in one place.
            skip_nonfinite_steps: mask on the device (no sync) each optimizer step whose loss or
                gradients are NaN/inf: weights and optimizer state stay unchanged, the logged
                loss still shows the bad batch (see ``torchfit.trainer.masked_step``).
            strategy: ``"auto"`` (DDP when ``torchrun`` launched several processes, else
                none), ``"ddp"``, ``"fsdp"`` (FSDP2 ``fully_shard``) or ``None``; see
                ``docs/distributed.md``. ``batch_size`` is then the global batch.
            sync_batchnorm: under a distributed strategy, convert the BatchNorm layers to
                ``torch.nn.SyncBatchNorm`` (CUDA only); ignored in one process.

        Example:
            >>> net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
            >>> model = torchfit.Model(net, device="cpu")
            >>> model.compile(optimizer=torch.optim.SGD(net.parameters(), lr=20.0),
            ...               loss=nn.CrossEntropyLoss(),   # torch order: loss(y_pred, y_true)
            ...               global_clipnorm=0.25)         # = clip_grad_norm_(params, 0.25)
            >>> x, y = np.random.rand(16, 4).astype("float32"), np.arange(16) % 3
            >>> len(model.fit(x, y, batch_size=8, verbose=0).history["loss"])
            1
        """
        check_kwargs("compile", kwargs, Model.compile)
        step = StepPolicy(precision, self.device, gradient_accumulation_steps,
                          skip_nonfinite_steps)
        step.set_clipping(clipvalue, clipnorm, global_clipnorm, optimizer)
        check_jit_compile(jit_compile)
        self.to(self.device)
        self._strategy = resolve_strategy(strategy, self.device)
        if self._strategy is not None:  # before the optimizer: FSDP replaces the parameters
            self._strategy.wrap(self, sync_batchnorm)
        self._additions.refresh()  # the module may have new Layers since the last call
        self._additions.trackers.clear()
        self._adds_nothing = False
        self._metric_logs = None  # rebuilt once the metrics are built on the first batch
        # An overridden compute_loss: the logged `loss` is what it returns (train/test_step).
        default_compute_loss = type(self).compute_loss is Model.compute_loss
        self.compiled_loss = CompiledLoss(loss, loss_weights, self.output_names,
                                          tracks_total=default_compute_loss)
        self.compiled_metrics = CompiledMetrics(
            metrics, weighted_metrics, self.output_names, owner=self
        )
        self.optimizer = optimizers.build(optimizer, list(self.parameters()),
                                          paths=optimizers.parameter_paths(self))
        step.bind(self.optimizer, self.parameters(), distributed=self._strategy is not None)
        if self._strategy is not None:
            step.agree = self._strategy.agree
        self.optimizer.zero_grad(set_to_none=True)
        self._step = step
        self.run_eagerly = run_eagerly
        set_jit(self, jit_compile)
        self.compiled = True

    # ------------------------------------------------------------------ one batch
    def call_with_inputs(self, x):
        """Runs the model on ``x`` by structure: dict → keywords, list/tuple → positional."""
        if self._check_forward:  # first batch of a fit/evaluate/predict: see checked_forward
            self._check_forward = False
            return checked_forward(self, self.call_with_inputs, x)
        if self._example_inputs is None:  # once: one sample for summary() and plot_model()
            self._example_inputs = nest.map_structure(
                lambda t: t[:1].detach().clone() if isinstance(t, torch.Tensor) else t, x)
        if isinstance(x, dict):
            self._check_input_names(x)
            return self(**x)
        if isinstance(x, (list, tuple)):
            return self(*x)
        return self(x)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        """The total loss of a batch: the compiled losses plus ``self.losses``.

        Override to change the objective; ``compile(loss=None)`` then suits an override that
        needs no compiled loss (a VAE's reconstruction + KL from ``y_pred = (recon, mu,
        logvar)``). With an override, the logged ``loss`` is what it returns (the
        batch-size-weighted epoch mean, as for compiled losses); a custom ``train_step`` that
        calls it logs it with ``self.compiled_loss.track(loss, y_pred)``.

        Example:
            >>> class Penalised(torchfit.Model):  # a penalty on the size of the outputs
            ...     def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            ...         loss = super().compute_loss(x, y, y_pred, sample_weight)
            ...         return loss + 1e-3 * y_pred.pow(2).mean()
            >>> model = Penalised(nn.Linear(3, 1))
            >>> model.compile(optimizer="sgd", loss="mse")
            >>> round(float(model.compute_loss(y=torch.zeros(2, 1), y_pred=torch.ones(2, 1))), 4)
            1.001
        """
        extra = None if self._adds_nothing else self.losses
        return self.compiled_loss(y, y_pred, sample_weight, regularization_losses=extra)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Updates the compiled metrics and returns the logs (device values, read lazily)."""
        if self.compiled_metrics._entries is None:  # not built: the first batch
            self._build_metrics(y, y_pred)
        if torch.is_grad_enabled():
            # no_grad: a custom metric doing `state += values.sum()` must not join the graph.
            with torch.no_grad():
                self._update_metrics(y, y_pred, sample_weight)
        else:  # evaluate and predict run without grad already: no context to enter per step
            self._update_metrics(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def _update_metrics(self, y, y_pred, sample_weight):
        self.compiled_metrics.update_state(y, y_pred, sample_weight)
        if not self._adds_nothing and self._additions.update_trackers(
                self, self.metrics_names, self.device):
            self._metric_logs = None  # the logs now have one more key

    def _build_metrics(self, y, y_pred):
        """Matches the compiled metrics to the outputs on the first batch (errors surface here)."""
        if not self.compiled_metrics.built:
            self.compiled_metrics.build(y, y_pred, self.compiled_loss.loss_functions())
            self._metric_logs = self._new_metric_logs()

    def _new_metric_logs(self):
        # Distributed: read, the values are those of the states reduced across ranks.
        if self._strategy is not None:
            return DistributedMetricLogs(self.metrics)
        return MetricLogs(self.metrics)

    def get_metrics_result(self):
        """``{name: value}`` for every metric; values are computed when read (under
        ``torchrun``, from the metric states reduced across ranks)."""
        logs = self._metric_logs
        if logs is None:
            logs = self._metric_logs = self._new_metric_logs()
        elif type(logs) is DistributedMetricLogs:
            logs.invalidate()  # the metrics changed since the last read
        return logs

    def reset_metrics(self):
        for metric in self.metrics:
            metric.reset_state()

    def train_step(self, data):
        """One optimisation step on ``data`` = ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``.

        Returns the logs. Override for custom training (a GAN step, several optimizers...);
        keep returning ``self.compute_metrics(...)`` or a dict of tensors.

        Example:
            >>> class MyModel(torchfit.Model):
            ...     def train_step(self, data):
            ...         x, y, sample_weight = torchfit.data.unpack_x_y_sample_weight(data)
            ...         y_pred = self.call_with_inputs(x)
            ...         loss = self.compute_loss(x, y, y_pred, sample_weight)
            ...         self.optimizer.zero_grad(set_to_none=True)
            ...         loss.backward()
            ...         self.optimizer.step()
            ...         return self.compute_metrics(x, y, y_pred, sample_weight)
            >>> model = MyModel(nn.Linear(3, 1))
            >>> model.compile(optimizer="sgd", loss="mse")
            >>> history = model.fit(np.ones((8, 3), "float32"), np.ones((8, 1), "float32"),
            ...                     epochs=2, verbose=0)
            >>> len(history.history["loss"])
            2
        """
        x, y, sample_weight = data_module.unpack_x_y_sample_weight(data)
        y_pred = self._step.forward(self, x)
        loss = self.compute_loss(x, y, y_pred, sample_weight)
        if not self.compiled_loss.tracks_total:  # compute_loss is overridden: log its result
            self.compiled_loss.track(loss, y_pred)
        self._build_metrics(y, y_pred)  # first batch only: config errors before any update
        if self._step.takes_closure:  # LBFGS & co.: the step re-runs forward and loss
            self._step.closure_step(self, loss, x, y, sample_weight)
        else:
            self.backward_and_step(loss)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def backward_and_step(self, loss):
        """``loss.backward()`` and the optimizer step, honouring ``compile``'s precision (the
        GradScaler for float16) and ``gradient_accumulation_steps`` (a step every N calls).

        See ``torchfit.trainer.step.StepPolicy``; call it from a custom ``train_step`` to keep
        those settings.
        """
        self._step.backward_and_step(loss, self.optimizer)

    def test_step(self, data):
        """One evaluation step (run under ``torch.no_grad``); returns the logs."""
        x, y, sample_weight = data_module.unpack_x_y_sample_weight(data)
        y_pred = self._step.forward(self, x)
        loss = self.compute_loss(x, y, y_pred, sample_weight)
        if not self.compiled_loss.tracks_total:  # compute_loss is overridden: log its result
            self.compiled_loss.track(loss, y_pred)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        """One prediction step (run under ``torch.no_grad``); returns the outputs."""
        x, _, _ = data_module.unpack_x_y_sample_weight(data)
        if self._step.precision.dtype is None:  # full precision: no context to enter
            return self.call_with_inputs(x)
        with self._step.precision.autocast():
            return self.call_with_inputs(x)

    # ------------------------------------------------------------------ data plumbing
    def _check_input_names(self, x):
        target = self.module if self.module is not None else self
        if self._forward_names is False:  # looked up once: a signature costs per-step time
            self._forward_names = forward_keywords(target.forward)
        check_input_names(x, self._forward_names, type(target).__name__)

    def _adapter(self, x, y, sample_weight, batch_size, shuffle=False, class_weight=None,
                 predicting=False):
        self._check_forward = True  # first-batch checks, once per call (no per-step sync)
        if self.compiled_loss is not None:  # labels (and class_weight keys) vs the outputs
            loss = self.compiled_loss
            loss.check_labels = class_weight or loss.check_labels or True
        return data_module.get_adapter(
            x, y, sample_weight, batch_size=batch_size, shuffle=shuffle,
            class_weight=class_weight, device=self.device, dtype=floating_dtype(self),
            check_batch=first_batch_check(self, Model),
            shard=None if self._strategy is None else (
                self._strategy.predict_shard if predicting else self._strategy.shard),
        )

    def _callbacks(self, callbacks, verbose, epochs, steps, add_history=False):
        return callbacks_module.CallbackList(
            arguments.as_callbacks(callbacks, callbacks_module.Callback),
            add_history=add_history, add_progbar=bool(verbose), model=self,
            params={"verbose": verbose, "epochs": epochs, "steps": steps})

    # ------------------------------------------------------------------ fit / evaluate / predict
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, check_finite=True, **kwargs):
        """Trains the model; returns a ``History``. Arguments and defaults follow Keras.

        ``check_finite=False`` skips the one vectorised NaN/inf check of in-memory ``x``, ``y``,
        ``sample_weight`` (and validation arrays) that ``fit`` makes before training.

        Example:
            >>> model = torchfit.Sequential(nn.Linear(3, 1))
            >>> model.compile(optimizer="sgd", loss="mse")
            >>> x, y = np.ones((32, 3), "float32"), np.zeros((32, 1), "float32")
            >>> history = model.fit(x, y, batch_size=8, epochs=3, verbose=0,
            ...                     validation_data=(x[:8], y[:8]))
            >>> sorted(history.history), history.epoch
            (['loss', 'val_loss'], [0, 1, 2])
            >>> history.history["loss"][-1] < history.history["loss"][0]
            True
        """
        check_kwargs("fit", kwargs, Model.fit)
        arguments.check_compiled(self, "fit")
        arguments.check_fit_arguments(batch_size, epochs, initial_epoch, steps_per_epoch,
                                      validation_steps, validation_batch_size, validation_freq,
                                      validation_split, shuffle)
        verbose = arguments.resolve_verbose(verbose)
        if validation_data is not None:
            val_x, val_y, val_sw = arguments.unpack_validation_data(validation_data)
        elif validation_split:
            (x, y, sample_weight), (val_x, val_y, val_sw) = data_module.split_for_validation(
                x, y, sample_weight, validation_split)
        else:
            val_x = None
        arguments.check_finite_data(check_finite, "fit", (x, "x"), (y, "y"),
                                    (sample_weight, "sample_weight"), *(
                                        () if val_x is None else ((val_x, "validation x"),
                                                                  (val_y, "validation y"))))
        train = EpochIterator(
            self._adapter(x, y, sample_weight, batch_size, shuffle, class_weight),
            steps_per_epoch, self.device,
        )
        val = None
        if val_x is not None:
            # A validation stream (DataLoader, IterableDataset, generator) is used as it comes:
            # `batch_size` reaches only the validation data that torchfit batches itself, and a
            # DataLoader or generator brings its own batches (Keras ignores the argument there).
            if data_module.batches_samples(val_x):
                validation_batch_size = validation_batch_size or batch_size
            elif not isinstance(val_x, torch.utils.data.IterableDataset):
                validation_batch_size = None
            val = EpochIterator(
                self._adapter(val_x, val_y, val_sw, validation_batch_size),
                validation_steps, self.device,
            )
        callback_list = self._callbacks(callbacks, verbose, epochs, train.num_steps,
                                        add_history=True)
        return loops.run_fit(self, train, callback_list, epochs, initial_epoch, val,
                             validation_freq)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False, check_finite=True, **kwargs):
        """Returns the loss, ``[loss, *metrics]`` in ``metrics_names`` order (then any other
        key a custom ``test_step`` logs, sorted), or a dict. ``check_finite=False`` skips the
        NaN/inf check of in-memory ``x``, ``y`` and ``sample_weight``, as in ``fit``: ``y`` and
        ``sample_weight`` are checked first, ``x`` (the large one: a pass over it costs a
        tenth of an evaluation) only when a result is NaN or infinite, to name it as the
        cause."""
        check_kwargs("evaluate", kwargs, Model.evaluate)
        arguments.check_compiled(self, "evaluate")
        arguments.check_positive_int("batch_size", batch_size)
        arguments.warn_unweighted_metrics(x, sample_weight, self.compiled_metrics)
        verbose = arguments.resolve_verbose(verbose)
        arguments.check_finite_data(check_finite, "evaluate", (y, "y"),
                                    (sample_weight, "sample_weight"))
        iterator = EpochIterator(self._adapter(x, y, sample_weight, batch_size), steps,
                                 self.device)
        callback_list = self._callbacks(callbacks, verbose, 1, iterator.num_steps)
        logs = loops.run_evaluate(self, iterator, callback_list)
        if check_finite and not arguments.all_finite(logs):
            arguments.check_finite_data(True, "evaluate", (x, "x"))
        return self._format_results(logs, return_dict)

    def _format_results(self, logs, return_dict):
        if return_dict:
            return dict(logs)
        # metrics_names order, then any other key (a custom step's) sorted, as both Kerases do.
        names = self.metrics_names
        values = [logs[name] for name in names if name in logs] + \
            [logs[key] for key in sorted(logs) if key not in names]
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, **kwargs):
        """Returns the outputs for ``x`` as NumPy arrays, in the structure of the outputs."""
        check_kwargs("predict", kwargs, Model.predict)
        arguments.check_positive_int("batch_size", batch_size)
        verbose = arguments.resolve_verbose(verbose)
        arguments.check_runnable(self, Model)
        first = next(itertools.chain(self.parameters(), self.buffers()), None)
        if first is not None and first.device != self.device:
            self.to(self.device)  # moved since compile (a walk of every tensor costs ~0.5%)
        iterator = EpochIterator(self._adapter(x, None, None, batch_size, predicting=True), steps,
                                 self.device)
        callback_list = self._callbacks(callbacks, verbose, 1, iterator.num_steps)
        return loops.run_predict(self, iterator, callback_list)

    # ------------------------------------------------------------------ single batches
    def _single_batch(self, x, y, sample_weight, class_weight=None):
        if not data_module.is_array_like(x):
            data_module.check_array_leaves(x, "x")
            raise TypeError(
                "`*_on_batch` methods take one batch of arrays or tensors. "
                f"Received x of type {type(x).__name__}."
            )
        adapter = self._adapter(x, y, sample_weight, batch_size=1, class_weight=class_weight)
        return adapter.data

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on exactly this batch; returns its loss and metrics."""
        arguments.check_compiled(self, "train_on_batch")
        data = self._single_batch(x, y, sample_weight, class_weight)
        self.train()
        self.reset_metrics()
        logs = to_floats(self.train_step(data))
        return self._format_results(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Evaluates exactly this batch; returns its loss and metrics."""
        arguments.check_compiled(self, "test_on_batch")
        data = self._single_batch(x, y, sample_weight)
        self.eval()
        self.reset_metrics()
        with torch.no_grad():
            logs = to_floats(self.test_step(data))
        return self._format_results(logs, return_dict)

    def predict_on_batch(self, x):
        """The outputs for exactly this batch, as NumPy arrays."""
        data = self._single_batch(x, None, None)
        self.eval()
        with torch.no_grad():
            outputs = self.predict_step(data)
        return loops._concatenate([outputs], floating_dtype(self))

    def find_learning_rate(self, x=None, y=None, batch_size=None, min_learning_rate=1e-7,
                           max_learning_rate=1.0, steps=100, sample_weight=None):
        """An exponential learning-rate sweep (fastai's / Lightning's ``lr_find``); returns a
        ``LearningRateFinder`` with ``learning_rates``, ``losses``, ``suggestion``, ``plot()``.

        Weights, buffers and the optimizer (state, learning rate, schedule, ``iterations``) are
        restored afterwards; see ``torchfit.trainer.lr_finder``.

        Example:
            >>> model = torchfit.Sequential(nn.Linear(3, 1))
            >>> model.compile(optimizer="sgd", loss="mse")
            >>> x = np.random.rand(256, 3).astype("float32")
            >>> finder = model.find_learning_rate(x, x.sum(1, keepdims=True), batch_size=16,
            ...                                   steps=30)
            >>> 1e-7 <= finder.suggestion <= 1.0
            True
        """
        return lr_finder.find_learning_rate(self, x, y, batch_size, min_learning_rate,
                                            max_learning_rate, steps, sample_weight)

    def summary(self, example_inputs=None, print_fn=print, line_length=None):
        """Prints (and returns) a Keras-style table of submodules, output shapes and parameters.

        Output shapes come from one forward pass on ``example_inputs``, or on one sample of the
        inputs ``fit``/``evaluate``/``predict`` first saw; otherwise they read ``?``.
        """
        return summary_table(self, example_inputs=example_inputs, print_fn=print_fn,
                             line_length=line_length)
