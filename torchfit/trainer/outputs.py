"""Model outputs matched by name: output names, and per-output configs and targets.

Output naming, as in tf.keras: a single tensor is one unnamed output (``[None]``); a dict names
its outputs by key; a tuple/list by ``output_names`` or ``output_1``, ``output_2``, ... A
per-output config (``loss``, ``loss_weights``, ``metrics``, ``sample_weight``) is one value for
every output, a list by position, or a dict by name; so are the targets.
"""

__all__ = ["by_output", "output_names_of", "preds_by_name", "targets_by_output"]


def output_names_of(y_pred, output_names=None):
    """Names of the model outputs in flattening order; ``[None]`` for a single tensor."""
    if isinstance(y_pred, dict):
        return list(y_pred)
    if isinstance(y_pred, (list, tuple)):
        count = len(y_pred)
        if output_names is not None:
            if len(output_names) != count:
                raise ValueError(
                    f"The model returned {count} outputs but `output_names` has "
                    f"{len(output_names)} names: {list(output_names)}."
                )
            return list(output_names)
        return [f"output_{i + 1}" for i in range(count)]
    return [None]


def _check_known(keys, names, where):
    unknown = [key for key in keys if key not in names]
    if unknown:
        raise ValueError(f"Unknown output name(s) {unknown} in {where} "
                         f"Expected keys: {', '.join(repr(n) for n in names)}.")


def by_output(config, names, argument):
    """Spreads a per-output ``config`` (one value, a list by position, a dict by name).

    Returns ``{name: value}``; a dict's missing names map to ``None``.
    """
    if isinstance(config, dict):
        _check_known(config, names, f"`{argument}`. Received: {argument}={config!r}.")
        return {name: config.get(name) for name in names}
    if isinstance(config, (list, tuple)) and len(names) > 1:
        if len(config) != len(names):
            raise ValueError(
                f"`{argument}` has {len(config)} entries but the model has {len(names)} outputs "
                f"({', '.join(names)}). Pass one entry per output, or a dict by output name."
            )
        return dict(zip(names, config))
    return {name: config for name in names}


def targets_by_output(y_true, names, has_loss):
    """Matches ``y_true`` to output names: a dict by name, a list by position, or one target."""
    if len(names) == 1:
        return {names[0]: y_true}
    if isinstance(y_true, dict):
        _check_known(y_true, names, "the targets `y`.")
        return y_true
    if isinstance(y_true, (list, tuple)):
        if len(y_true) == len(names):
            return dict(zip(names, y_true))
        with_loss = [name for name in names if has_loss[name]]
        if len(y_true) == len(with_loss):
            return dict(zip(with_loss, y_true))
        raise ValueError(
            f"Received {len(y_true)} targets for a model with {len(names)} outputs "
            f"({', '.join(names)}). Pass one target per output, or a dict by output name."
        )
    with_loss = [name for name in names if has_loss[name]]
    if len(with_loss) == 1:
        return {with_loss[0]: y_true}
    raise ValueError(
        f"Received a single target for a model with {len(names)} outputs "
        f"({', '.join(names)}). Pass a list or a dict of targets."
    )


def preds_by_name(y_pred, names):
    if names == [None]:
        return {None: y_pred}
    values = y_pred.values() if isinstance(y_pred, dict) else y_pred
    return dict(zip(names, values))
