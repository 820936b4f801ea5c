"""Default names: the snake_case rule Keras 3 uses for losses, metrics and layers.

No torchfit imports: losses and metrics both name their objects with it.
"""

import re

__all__ = ["to_snake_case"]


def to_snake_case(name):
    """Convert a class name to the snake_case default name, exactly as Keras 3 does.

    Non-word characters are dropped, an underscore goes before each capitalised word (an
    uppercase letter followed by lowercase ones), and between a lowercase letter and an
    uppercase one; the result is lowercased. An acronym stays one word (`"AUC"` -> `"auc"`)
    and digits stick to the word before them (`"MSE2Loss"` -> `"mse2_loss"`).

    Args:
        name: A class or function name, e.g. `type(obj).__name__`.

    Returns:
        The snake_case name.

    Example:
        >>> to_snake_case("TopKCategoricalAccuracy")
        'top_k_categorical_accuracy'
        >>> to_snake_case("MSE2Loss")
        'mse2_loss'
        >>> to_snake_case("BCEWithLogitsLoss")
        'bce_with_logits_loss'
    """
    # The three substitutions of keras/src/utils/naming.py, in the same order.
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
