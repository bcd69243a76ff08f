"""File helpers every backup shares: a streamed SHA-256, an atomic copy, and a fresh output directory."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from typing import TYPE_CHECKING

from chaos.errors import BackupError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["CHUNK", "copy_atomically", "new_output_dir", "sha256_file"]

CHUNK = 1 << 16


def sha256_file(path: Path) -> str:
    """The file's SHA-256, read in chunks: memory stays flat whatever its size."""
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def copy_atomically(source: Path, destination: Path) -> str:
    """Copy ``source`` to ``destination`` so that it is either whole or absent; returns the copy's SHA-256.

    The bytes go to a temporary name beside the destination, are flushed to disk, and only then renamed
    over it: an interruption at any point leaves the destination as it was.
    """
    partial = destination.with_name(f".{destination.name}.part")
    digest = hashlib.sha256()
    try:
        with source.open("rb") as data, partial.open("wb") as out:
            for chunk in iter(lambda: data.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    _fsync_dir(destination.parent)
    return digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def new_output_dir(output: Path) -> Iterator[Path]:
    """Create ``output`` for the body to fill; refuse one that holds anything, so no backup overwrites another.

    If the body fails, whatever this created (``output`` and any parents it needed) is removed again:
    a failed backup leaves no half-written directory, nor an empty one.
    """
    if output.is_dir() and any(output.iterdir()):
        raise BackupError(f"backup output {output} is not empty; choose a new directory")
    first_created = next((path for path in (output, *output.parents) if path.parent.exists()), output)
    created = not first_created.exists()
    output.mkdir(parents=True, exist_ok=True)
    try:
        yield output
    except BaseException:
        if created:
            shutil.rmtree(first_created, ignore_errors=True)
        raise
