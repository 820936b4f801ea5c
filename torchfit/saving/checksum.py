"""The sha256 checksum that every `.pt` file torchfit writes carries, verified before it is read.

Layout
------
A `.pt` file is the zip archive `torch.save` writes, unchanged but for its zip *comment* (the
free-text field that ends every zip file, which zip readers, torch's included, ignore)::

    <torch.save's zip archive, whose end record declares an 80-byte comment>
    torchfit-sha256:<64 hex digits>

The 64 hex digits are the sha256 of every byte of the file before them (the archive, its end
record with the comment length, and the `torchfit-sha256:` marker). So the file is still a plain
torch file: `torch.load(path, weights_only=True)` returns the state dict (or checkpoint dict)
exactly as saved, and `module.load_state_dict(torch.load(path, weights_only=True))` works.

Verification
------------
`open_verified` reads the whole file once and compares digests before torch's unpickler sees a
byte (about 0.7 s per GB, as fast as `torch.load` itself). A mismatch raises
`ValueError("Could not read <what> from '<path>': the file is damaged ...")`. Any single flipped
bit is either caught this way or lies in the marker itself, which then reads as "no checksum":
the archive is untouched and loads exactly as saved. Files without the marker (plain
`torch.save` files, torchfit's from before checksums, legacy pre-zip torch files) are read as
before, unchecked.
"""

import hashlib
import os
import struct

from torchfit.saving.formats import unreadable

__all__ = ["MARKER", "add_checksum", "has_checksum", "open_verified"]

MARKER = b"torchfit-sha256:"
_DIGEST_SIZE = 64  # hex digits
_COMMENT_SIZE = len(MARKER) + _DIGEST_SIZE
_END_RECORD = b"PK\x05\x06"  # the zip "end of central directory" record, 22 bytes + comment
_END_RECORD_SIZE = 22
_CHUNK = 1 << 20


def _sha256(f, size):
    """The hex sha256 (as bytes) of the first `size` bytes of the open file `f`."""
    f.seek(0)
    digest, left = hashlib.sha256(), size
    while left > 0:
        block = f.read(min(_CHUNK, left))
        if not block:
            break
        digest.update(block)
        left -= len(block)
    return digest.hexdigest().encode("ascii")


def add_checksum(path):
    """Appends the checksum comment to the zip archive `torch.save` just wrote at `path`.

    Raises:
        ValueError: `path` is not a zip archive without a comment (what `torch.save` writes).

    Example:
        >>> from torchfit.saving.checksum import add_checksum, has_checksum
        >>> torch.save({"w": torch.ones(2)}, "w.pt")
        >>> add_checksum("w.pt")
        >>> has_checksum("w.pt"), torch.load("w.pt", weights_only=True)
        (True, {'w': tensor([1., 1.])})
    """
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(size - _END_RECORD_SIZE, 0))
        end = f.read(_END_RECORD_SIZE)
        if len(end) != _END_RECORD_SIZE or end[:4] != _END_RECORD or end[20:] != b"\0\0":
            raise ValueError(f"{os.fspath(path)!r} is not a zip archive without a comment, as "
                             "torch.save writes; cannot add a checksum to it.")
        f.seek(size - 2)
        f.write(struct.pack("<H", _COMMENT_SIZE) + MARKER)
        f.flush()
        digest = _sha256(f, size + len(MARKER))
        f.seek(size + len(MARKER))
        f.write(digest)


def _stored_digest(f, size, path, what):
    """The digest stored at the end of the open file, or None if it carries no checksum.

    Raises the damaged-file ValueError when the checksum comment is there but cut short.
    """
    f.seek(max(size - _END_RECORD_SIZE - _COMMENT_SIZE, 0))
    tail = f.read()
    at = tail.rfind(MARKER)
    if at >= 0:
        digest = tail[at + len(MARKER):]
        if len(digest) == _DIGEST_SIZE:
            return digest
    end = tail.rfind(_END_RECORD)
    declared = tail[end + 20:end + 22] if end >= 0 else b""
    if at >= 0 or (declared == struct.pack("<H", _COMMENT_SIZE)
                   and len(tail) - end - _END_RECORD_SIZE != _COMMENT_SIZE):
        raise unreadable(path, what, (
            "the file is truncated or corrupt (not a complete torch zip archive): it ends "
            "inside the sha256 checksum torchfit writes at its end"))
    return None  # a plain torch file (or a flipped bit in the marker: the archive is intact)


def has_checksum(path):
    """Whether the file at `path` ends with torchfit's checksum comment (not whether it matches)."""
    with open(path, "rb") as f:
        return _stored_digest(f, f.seek(0, os.SEEK_END), path, "a torch file") is not None


def open_verified(path, what):
    """Opens `path` for reading, after checking its checksum if it has one.

    The caller reads from the returned file object (so the bytes checked are the bytes read,
    even if another process replaces the file meanwhile) and closes it.

    Raises:
        ValueError: the file carries a checksum and its contents do not match it.

    Example:
        >>> from torchfit.saving.checksum import add_checksum, open_verified
        >>> torch.save({"w": torch.ones(2)}, "w.pt")
        >>> add_checksum("w.pt")
        >>> data = bytearray(open("w.pt", "rb").read())
        >>> data[100] ^= 1  # flip one bit of the payload
        >>> _ = open("w.pt", "wb").write(data)
        >>> open_verified("w.pt", "weights")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: Could not read weights from 'w.pt': the file is damaged: ...
    """
    f = open(path, "rb")
    try:
        size = f.seek(0, os.SEEK_END)
        stored = _stored_digest(f, size, path, what)
        if stored is not None:
            actual = _sha256(f, size - _DIGEST_SIZE)
            if actual != stored:
                raise unreadable(path, what, (
                    "the file is damaged: its contents do not match the sha256 checksum "
                    f"torchfit stored in it (stored {stored[:12].decode('ascii', 'replace')}..., "
                    f"computed {actual[:12].decode('ascii')}...), so some of its bytes changed "
                    "after it was written"))
        f.seek(0)
        return f
    except BaseException:
        f.close()
        raise
