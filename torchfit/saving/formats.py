"""What makes a file torchfit's: the format names it records, and the errors for files that are not.

Both file formats (`torch_format` for `.pt`, `hdf5` for `.h5`) share these, so they live below
both, and `torchfit.saving` re-exports the constants:

* `WEIGHTS_FORMAT` is the root attribute `format` of a `.h5` weights file (a `.pt` weights file is
  a bare state dict and records nothing).
* `CHECKPOINT_FORMAT` is the `"format"` entry of every checkpoint, `.pt` or `.h5`, and
  `CHECKPOINT_KEYS` are the keys of the dict `load_checkpoint` returns.
* A damaged file raises `unreadable(...)`: `ValueError("Could not read <what> from '<path>':
  <problem>. Save, copy or download it again, ...")`, with `describe(err)` as the short form of
  the low-level error behind it.
"""

import os

CHECKPOINT_FORMAT = "torchfit.checkpoint.v1"
CHECKPOINT_KEYS = ("format", "model", "optimizer", "training", "version")
WEIGHTS_FORMAT = "torchfit.weights.v1"


def check_checkpoint_format(fmt, path):
    """Raises ValueError unless `fmt` is the `CHECKPOINT_FORMAT` this version reads.

    Example:
        >>> from torchfit.saving.formats import check_checkpoint_format
        >>> check_checkpoint_format("torchfit.checkpoint.v1", "ckpt.pt")
        >>> check_checkpoint_format("torchfit.checkpoint.v2", "ckpt.pt")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: 'ckpt.pt' is a 'torchfit.checkpoint.v2' checkpoint; ... Upgrade torchfit...
    """
    if fmt == CHECKPOINT_FORMAT:
        return
    if isinstance(fmt, str) and fmt.startswith("torchfit.checkpoint."):
        raise ValueError(
            f"{os.fspath(path)!r} is a {fmt!r} checkpoint; this version of torchfit reads "
            f"{CHECKPOINT_FORMAT!r}. Upgrade torchfit to load it."
        )
    raise ValueError(
        f"{os.fspath(path)!r} is not a torchfit checkpoint (no format {CHECKPOINT_FORMAT!r}). "
        "If it holds weights only, load it with `load_state_dict` / `model.load_weights`."
    )


def unreadable(path, what, problem):
    """The ValueError for a file that is damaged or not in the format it claims.

    Example:
        >>> from torchfit.saving.formats import unreadable
        >>> str(unreadable("w.pt", "weights", "the file is empty (0 bytes)"))[:63]
        "Could not read weights from 'w.pt': the file is empty (0 bytes)"
    """
    return ValueError(
        f"Could not read {what} from {os.fspath(path)!r}: {problem}. Save, copy or download it "
        "again, or restore a backup (torchfit's own saves are atomic and never leave a partial "
        "file)."
    )


def describe(err):
    """`Type: first line` of an exception, without torch's long advice paragraphs.

    Example:
        >>> from torchfit.saving.formats import describe
        >>> describe(EOFError("Ran out of input\\nMore advice follows."))
        'EOFError: Ran out of input'
    """
    text = str(err).strip()
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].strip()
    text = text.splitlines()[0] if text else ""
    text = text.split(". This is an internal miniz error")[0].split(" The file might be")[0]
    text = text.rstrip(". ")
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
