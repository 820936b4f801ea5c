"""The eight classic Keras optimizers: Keras 3's update rules, each a ``torch.optim`` subclass.

Each class declares only what is its own: its learning-rate default and name (class keywords),
and its Keras arguments with Keras's defaults, in Keras's order, as the parameters of
``keras_to_torch``, which returns the param-group hyperparameters (torch's key names where torch
has one with the same meaning: ``betas``, ``eps``, RMSprop's ``alpha`` for ``rho``, so that
``torch.optim.lr_scheduler`` and ``OneCycleLR(cycle_momentum=True)`` drive them); ``Optimizer``
adds the shared arguments (``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``,
``name``) and builds the constructor's signature.

``step()`` is Keras 3's: the rules of ``rules`` (Keras's ``update_step``, over torch's foreach
kernels), after Keras 3's decoupled weight decay ``w *= 1 - weight_decay * lr`` for every one of
them (``keras_update``), with the learning rate of ``iterations`` before the step. Over 1,000 steps
the weights equal Keras 3's to float32 rounding (``tests/compat/test_keras_optimizers.py``); for
these formulas Keras 3 is also tf.keras 2.11+. Each class still is the torch class
(``isinstance(Adam(), torch.optim.Adam)``) for ``param_groups``, ``state_dict()``, hooks and LR
schedulers, but not its math: a ``torch.optim`` optimizer passed to ``compile`` keeps torch's.

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

from torchfit.optimizers import rules
from torchfit.optimizers.base import Optimizer

__all__ = ["SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "Nadam"]


def _betas_and_epsilon(beta_1=0.9, beta_2=0.999, epsilon=1e-07, *, weight_decay):
    """Adamax's and Nadam's Keras arguments (``keras_to_torch``) as torch's param-group keys."""
    return dict(betas=(beta_1, beta_2), eps=epsilon, weight_decay=weight_decay)


class SGD(Optimizer, rules.SGDUpdate, torch.optim.SGD, learning_rate=0.01, name="SGD"):
    """Gradient descent with momentum, Keras 3's ``SGD``.

    For each variable ``w`` with gradient ``g`` (after ``w *= 1 - weight_decay * lr`` when
    ``weight_decay`` is set)::

        w = w - lr * g                          # momentum == 0
        m = momentum * m - lr * g               # momentum > 0 (m starts at zeros)
        w = w + m                               # or, nesterov: w = w + momentum * m - lr * g

    The velocity ``m`` includes the learning rate (``torch.optim.SGD``'s buffer does not: the two
    differ once the rate changes). Param-group keys: ``lr``, ``momentum``, ``nesterov``,
    ``weight_decay``; state: ``"momentum"``.

    Raises:
        ValueError: ``momentum`` outside ``[0, 1]`` (as Keras).

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = SGD(learning_rate=0.1, momentum=0.9)
        >>> for _ in range(2):
        ...     opt.apply_gradients([(torch.tensor([1.0]), w)])
        >>> round(w.item(), 4)  # sync: the example reads it; 1 - 0.1 - (0.9 * 0.1 + 0.1)
        0.71
    """

    _cpu_foreach = False  # the Keras rules always run foreach kernels

    @staticmethod
    def keras_to_torch(momentum=0.0, nesterov=False, *, weight_decay):
        if not 0 <= momentum <= 1:
            raise ValueError(
                f"`momentum` must be a float between [0, 1]. Received: momentum={momentum!r}"
            )
        return dict(momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)


class RMSprop(
    Optimizer, rules.RMSpropUpdate, torch.optim.RMSprop, learning_rate=0.001, name="rmsprop"
):
    """RMSprop, Keras 3's ``RMSprop`` (also tf.keras 2.11+'s).

    For each variable ``w`` with gradient ``g`` (after the weight decay)::

        v = rho * v + (1 - rho) * g**2
        a = rho * a + (1 - rho) * g             # centered only
        d = sqrt(v - a**2 + epsilon)            # centered; else d = sqrt(v + epsilon)
        w = w - lr * g / d                      # momentum == 0
        m = momentum * m + lr * g / d; w = w - m    # momentum > 0

    ``epsilon`` is inside the square root (``torch.optim.RMSprop`` adds it outside, and its
    momentum buffer leaves out the learning rate). Param-group keys: ``lr``, ``alpha`` (``rho``,
    torch's name), ``eps``, ``momentum``, ``centered``, ``weight_decay``; state: ``"velocity"``,
    ``"momentum"``, ``"average_gradient"``.

    Example:
        >>> opt = RMSprop(learning_rate=1e-3)   # Keras defaults: rho=0.9, epsilon=1e-7
    """

    _cpu_foreach = False

    @staticmethod
    def keras_to_torch(rho=0.9, momentum=0.0, epsilon=1e-07, centered=False, *, weight_decay):
        return dict(
            alpha=rho, eps=epsilon, momentum=momentum, centered=centered, weight_decay=weight_decay
        )


class Adam(Optimizer, rules.AdamUpdate, torch.optim.Adam, learning_rate=0.001, name="adam"):
    """Adam, Keras 3's ``Adam`` (``weight_decay``, None by default, is Keras's decoupled decay).

    For each variable ``w`` with gradient ``g`` at step ``t`` (from 1), after the weight decay::

        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        v_hat = max(v_hat, v)                   # amsgrad only, then used in place of v
        w = w - lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)

    ``epsilon`` is the paper's "epsilon hat", added before the bias correction
    (``torch.optim.Adam`` adds it after, which shows while ``sqrt(v)`` is near ``epsilon``).
    Param-group keys: ``lr``, ``betas``, ``eps``, ``amsgrad``, ``weight_decay``, ``step``;
    state: ``"momentum"``, ``"velocity"``, ``"velocity_hat"``.

    Example:
        >>> opt = Adam(learning_rate=1e-3, amsgrad=True)
    """

    _cpu_foreach = False

    @staticmethod
    def keras_to_torch(beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False, *, weight_decay):
        return dict(betas=(beta_1, beta_2), eps=epsilon, amsgrad=amsgrad, weight_decay=weight_decay)


class AdamW(Optimizer, rules.AdamUpdate, torch.optim.AdamW, learning_rate=0.001, name="adamw"):
    """Adam with decoupled weight decay, Keras 3's ``AdamW``.

    ``Adam``'s update (the same formula and param-group keys) after
    ``w *= 1 - weight_decay * lr``; ``weight_decay`` defaults to 0.004 (``torch.optim.AdamW``'s
    to 0.01), and 0.0 gives Adam.

    Example:
        >>> opt = AdamW(learning_rate=1e-3, weight_decay=0.004)
    """

    _cpu_foreach = False

    @staticmethod
    def keras_to_torch(weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False):
        if weight_decay is None:
            raise ValueError(
                "Missing value of `weight_decay` which is required and must be a float value "
                "(tf.keras 2's words; Keras's default is 0.004). Received: weight_decay=None. "
                "For no decay use weight_decay=0.0 or Adam."
            )
        return dict(betas=(beta_1, beta_2), eps=epsilon, amsgrad=amsgrad, weight_decay=weight_decay)


class Adagrad(
    Optimizer, rules.AdagradUpdate, torch.optim.Adagrad, learning_rate=0.001, name="adagrad"
):
    """Adagrad, Keras 3's ``Adagrad``.

    For each variable ``w`` with gradient ``g`` (after the weight decay)::

        a = a + g**2                            # a starts at initial_accumulator_value
        w = w - lr * g / sqrt(a + epsilon)

    ``epsilon`` is inside the square root (``torch.optim.Adagrad`` and tf.keras 2 add it outside).
    Param-group keys: ``lr``, ``initial_accumulator_value``, ``eps``, ``weight_decay``; state:
    ``"accumulator"``.

    Example:
        >>> opt = Adagrad(learning_rate=0.01)
    """

    _cpu_foreach = False

    @staticmethod
    def keras_to_torch(initial_accumulator_value=0.1, epsilon=1e-07, *, weight_decay):
        return dict(
            initial_accumulator_value=initial_accumulator_value, eps=epsilon,
            weight_decay=weight_decay,
        )  # fmt: skip


class Adadelta(
    Optimizer, rules.AdadeltaUpdate, torch.optim.Adadelta, learning_rate=0.001, name="adadelta"
):
    """Adadelta, Keras 3's ``Adadelta``.

    For each variable ``w`` with gradient ``g`` (after the weight decay)::

        a = rho * a + (1 - rho) * g**2
        delta = -sqrt(d + epsilon) / sqrt(a + epsilon) * g
        d = rho * d + (1 - rho) * delta**2
        w = w + lr * delta

    The same formula as ``torch.optim.Adadelta``. Param-group keys: ``lr``, ``rho``, ``eps``,
    ``weight_decay``; state: ``"accumulated_grad"``, ``"accumulated_delta_var"``.

    Example:
        >>> opt = Adadelta(learning_rate=1.0)
    """

    _cpu_foreach = False

    @staticmethod
    def keras_to_torch(rho=0.95, epsilon=1e-07, *, weight_decay):
        return dict(rho=rho, eps=epsilon, weight_decay=weight_decay)


class Adamax(Optimizer, rules.AdamaxUpdate, torch.optim.Adamax, learning_rate=0.001, name="adamax"):
    """Adamax, Keras 3's ``Adamax``.

    For each variable ``w`` with gradient ``g`` at step ``t`` (from 1), after the weight decay::

        m = beta_1 * m + (1 - beta_1) * g
        u = max(beta_2 * u, |g|)
        w = w - lr / (1 - beta_1**t) * m / (u + epsilon)

    (``torch.optim.Adamax`` keeps ``u = max(beta_2 * u, |g| + epsilon)``.) Param-group keys:
    ``lr``, ``betas``, ``eps``, ``weight_decay``, ``step``; state: ``"momentum"``, ``"norm"``.

    Example:
        >>> opt = Adamax(learning_rate=2e-3)
    """

    _cpu_foreach = False
    keras_to_torch = staticmethod(_betas_and_epsilon)


class Nadam(Optimizer, rules.NadamUpdate, torch.optim.NAdam, learning_rate=0.001, name="nadam"):
    """Adam with Nesterov momentum, Keras 3's ``Nadam``.

    For each variable ``w`` with gradient ``g`` at step ``t`` (from 1), after the weight decay::

        u_t = beta_1 * (1 - 0.5 * 0.96**t)      # the momentum schedule
        P_t = u_1 * u_2 * ... * u_t             # Keras's _u_product: group["u_product"]
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat = u_{t+1} * m / (1 - P_t * u_{t+1}) + (1 - u_t) * g / (1 - P_t)
        w = w - lr * m_hat / (sqrt(v / (1 - beta_2**t)) + epsilon)

    ``torch.optim.NAdam`` (and tf.keras <= 2.10) use ``0.96**(0.004 * t)`` instead.
    Param-group keys: ``lr``, ``betas``, ``eps``, ``weight_decay``, ``step``, ``u_product``;
    state: ``"momentum"``, ``"velocity"``.

    Example:
        >>> opt = Nadam(learning_rate=1e-3)
    """

    _cpu_foreach = False
    keras_to_torch = staticmethod(_betas_and_epsilon)
