"""The Keras optimizers, each over the matching ``torch.optim`` class.

Each class declares only what is its own: its learning-rate default and name (class keywords),
and its Keras arguments with Keras's defaults, in Keras's order, as the parameters of
``keras_to_torch``, which returns the torch keyword arguments; ``Optimizer`` adds the shared
arguments (``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``name``) and builds
the constructor's signature. Each docstring gives the Keras -> torch mapping and where torch's
update formula differs from Keras's; the numbers are exactly those of the torch optimizer with the
mapped arguments.

One difference is shared: Keras's ``weight_decay`` is decoupled (``w -= lr * weight_decay * w``
before the update). torch offers that for ``AdamW``, ``Adam`` and ``Nadam``, which therefore match
Keras; for ``SGD``, ``RMSprop``, ``Adagrad``, ``Adadelta`` and ``Adamax`` torch's ``weight_decay``
is an L2 term added to the gradient (``g += weight_decay * w``), and that is what you get.

Example:
    >>> import inspect
    >>> from torchfit.optimizers import RMSprop
    >>> signature = inspect.signature(RMSprop)
    >>> signature.parameters["rho"], signature.parameters["name"]
    (<Parameter "rho=0.9">, <Parameter "name='rmsprop'">)
    >>> list(signature.parameters)[-6:]
    ['weight_decay', 'clipnorm', 'clipvalue', 'global_clipnorm', 'name', 'kwargs']
"""

import torch

from torchfit.optimizers.base import Optimizer

__all__ = ["SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "Nadam"]


class SGD(Optimizer, torch.optim.SGD, learning_rate=0.01, name="SGD"):
    """Gradient descent with momentum: Keras ``SGD`` over ``torch.optim.SGD``.

    Mapping: ``learning_rate`` -> ``lr``, ``momentum`` -> ``momentum``, ``nesterov`` ->
    ``nesterov``, ``weight_decay`` -> ``weight_decay`` (None -> 0).

    Differences: Keras's velocity includes the learning rate (``v = m*v - lr*g; w += v``) while
    torch's does not (``b = m*b + g; w -= lr*b``). They agree exactly while the learning rate is
    constant; after a change torch applies the new rate to the whole buffer at once.
    ``weight_decay`` is torch's L2 term (``g += wd * w``), not Keras's decoupled decay.

    Example:
        >>> opt = SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    """

    @staticmethod
    def keras_to_torch(momentum=0.0, nesterov=False, *, weight_decay):
        return dict(momentum=momentum, nesterov=nesterov, weight_decay=weight_decay or 0.0)


class RMSprop(Optimizer, torch.optim.RMSprop, learning_rate=0.001, name="rmsprop"):
    """RMSprop: Keras ``RMSprop`` over ``torch.optim.RMSprop``.

    Mapping: ``learning_rate`` -> ``lr``, ``rho`` -> ``alpha`` (0.9, torch's default is 0.99),
    ``epsilon`` -> ``eps`` (1e-7), ``momentum`` -> ``momentum``, ``centered`` -> ``centered``,
    ``weight_decay`` -> ``weight_decay`` (None -> 0).

    Differences: torch divides by ``sqrt(ms) + eps``, as tf.keras 2.x does without momentum;
    tf.keras 2.x with momentum and Keras 3 divide by ``sqrt(ms + eps)``. With momentum torch's
    buffer excludes the learning rate (see ``SGD``). ``weight_decay`` is torch's L2 term.

    Example:
        >>> opt = RMSprop(learning_rate=1e-3)   # Keras defaults: rho=0.9, epsilon=1e-7
    """

    @staticmethod
    def keras_to_torch(rho=0.9, momentum=0.0, epsilon=1e-07, centered=False, *, weight_decay):
        return dict(
            alpha=rho, eps=epsilon, momentum=momentum, centered=centered,
            weight_decay=weight_decay or 0.0,
        )  # fmt: skip


def _adam_kwargs(beta_1, beta_2, epsilon, amsgrad, weight_decay):
    """torch Adam/NAdam arguments; Keras's decoupled weight decay when weight_decay is given."""
    kwargs = dict(betas=(beta_1, beta_2), eps=epsilon)
    if amsgrad is not None:
        kwargs["amsgrad"] = amsgrad
    if weight_decay is not None:
        kwargs.update(weight_decay=weight_decay, decoupled_weight_decay=True)
    return kwargs


class Adam(Optimizer, torch.optim.Adam, learning_rate=0.001, name="adam"):
    """Adam: Keras ``Adam`` over ``torch.optim.Adam``.

    Mapping: ``learning_rate`` -> ``lr``, ``(beta_1, beta_2)`` -> ``betas``, ``epsilon`` -> ``eps``
    (1e-7), ``amsgrad`` -> ``amsgrad``; ``weight_decay`` (if given) -> ``weight_decay`` with
    ``decoupled_weight_decay=True``, Keras's decoupled decay ``w -= lr * wd * w``.

    Differences: Keras adds ``epsilon`` to ``sqrt(v)`` before the bias correction (the paper's
    "epsilon hat"), torch after it: torch's update equals Keras's with ``epsilon`` replaced by
    ``epsilon * sqrt(1 - beta_2**t)``, which matters only while ``sqrt(v)`` is near ``epsilon``.

    Example:
        >>> opt = Adam(learning_rate=1e-3, amsgrad=True)
    """

    @staticmethod
    def keras_to_torch(beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False, *, weight_decay):
        return _adam_kwargs(beta_1, beta_2, epsilon, amsgrad, weight_decay)


class AdamW(Optimizer, torch.optim.AdamW, learning_rate=0.001, name="adamw"):
    """Adam with decoupled weight decay: Keras ``AdamW`` over ``torch.optim.AdamW``.

    Mapping: ``learning_rate`` -> ``lr``, ``weight_decay`` -> ``weight_decay`` (Keras default 0.004,
    torch's is 0.01; both decay ``w -= lr * wd * w``), ``(beta_1, beta_2)`` -> ``betas``,
    ``epsilon`` -> ``eps`` (1e-7), ``amsgrad`` -> ``amsgrad``.

    Differences: where epsilon enters the denominator, as for ``Adam``.

    Example:
        >>> opt = AdamW(learning_rate=1e-3, weight_decay=0.004)
    """

    @staticmethod
    def keras_to_torch(weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False):
        if weight_decay is None:
            raise ValueError(
                "AdamW needs a `weight_decay` (Keras default 0.004). Received: weight_decay=None. "
                "For no decay use weight_decay=0.0 or Adam."
            )
        return dict(betas=(beta_1, beta_2), eps=epsilon, amsgrad=amsgrad, weight_decay=weight_decay)


class Adagrad(Optimizer, torch.optim.Adagrad, learning_rate=0.001, name="adagrad"):
    """Adagrad: Keras ``Adagrad`` over ``torch.optim.Adagrad``.

    Mapping: ``learning_rate`` -> ``lr`` (Keras default 0.001, torch's 0.01),
    ``initial_accumulator_value`` -> ``initial_accumulator_value`` (0.1, torch's 0), ``epsilon`` ->
    ``eps`` (1e-7), ``lr_decay=0``, ``weight_decay`` -> ``weight_decay`` (None -> 0).

    Differences: torch divides by ``sqrt(acc) + eps`` as tf.keras 2.x does; Keras 3 divides by
    ``sqrt(acc + eps)``. ``weight_decay`` is torch's L2 term.

    Example:
        >>> opt = Adagrad(learning_rate=0.01)
    """

    @staticmethod
    def keras_to_torch(initial_accumulator_value=0.1, epsilon=1e-07, *, weight_decay):
        return dict(
            lr_decay=0.0, initial_accumulator_value=initial_accumulator_value, eps=epsilon,
            weight_decay=weight_decay or 0.0,
        )  # fmt: skip


class Adadelta(Optimizer, torch.optim.Adadelta, learning_rate=0.001, name="adadelta"):
    """Adadelta: Keras ``Adadelta`` over ``torch.optim.Adadelta``.

    Mapping: ``learning_rate`` -> ``lr`` (Keras default 0.001, torch's 1.0), ``rho`` -> ``rho``
    (0.95, torch's 0.9), ``epsilon`` -> ``eps`` (1e-7), ``weight_decay`` -> ``weight_decay``
    (None -> 0).

    Differences: none in the update (both use ``sqrt(acc_delta + eps) / sqrt(acc_grad + eps)``);
    ``weight_decay`` is torch's L2 term.

    Example:
        >>> opt = Adadelta(learning_rate=1.0)
    """

    @staticmethod
    def keras_to_torch(rho=0.95, epsilon=1e-07, *, weight_decay):
        return dict(rho=rho, eps=epsilon, weight_decay=weight_decay or 0.0)


class Adamax(Optimizer, torch.optim.Adamax, learning_rate=0.001, name="adamax"):
    """Adamax: Keras ``Adamax`` over ``torch.optim.Adamax``.

    Mapping: ``learning_rate`` -> ``lr`` (Keras default 0.001, torch's 0.002), ``(beta_1, beta_2)``
    -> ``betas``, ``epsilon`` -> ``eps`` (1e-7), ``weight_decay`` -> ``weight_decay`` (None -> 0).

    Differences: Keras divides by ``u + eps`` with ``u = max(beta_2 * u, |g|)``; torch keeps
    ``u = max(beta_2 * u, |g| + eps)`` and divides by ``u``. ``weight_decay`` is torch's L2 term.

    Example:
        >>> opt = Adamax(learning_rate=2e-3)
    """

    @staticmethod
    def keras_to_torch(beta_1=0.9, beta_2=0.999, epsilon=1e-07, *, weight_decay):
        return dict(betas=(beta_1, beta_2), eps=epsilon, weight_decay=weight_decay or 0.0)


class Nadam(Optimizer, torch.optim.NAdam, learning_rate=0.001, name="nadam"):
    """Adam with Nesterov momentum: Keras ``Nadam`` over ``torch.optim.NAdam``.

    Mapping: ``learning_rate`` -> ``lr`` (Keras default 0.001, torch's 0.002), ``(beta_1, beta_2)``
    -> ``betas``, ``epsilon`` -> ``eps`` (1e-7), ``momentum_decay=0.004``; ``weight_decay`` (if
    given) -> ``weight_decay`` with ``decoupled_weight_decay=True`` (Keras's decoupled decay).

    Differences: torch's momentum schedule ``beta_1 * (1 - 0.5 * 0.96 ** (0.004 * t))`` and its
    update are those of tf.keras 2.x (<= 2.10); the Keras 3 optimizer uses ``0.96 ** t``.

    Example:
        >>> opt = Nadam(learning_rate=1e-3)
    """

    _cpu_foreach = False  # torch's NAdam foreach path differs in the last bits

    @staticmethod
    def keras_to_torch(beta_1=0.9, beta_2=0.999, epsilon=1e-07, *, weight_decay):
        kwargs = _adam_kwargs(beta_1, beta_2, epsilon, None, weight_decay)
        return {**kwargs, "momentum_decay": 0.004}
