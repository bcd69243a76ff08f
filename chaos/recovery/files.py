"""File helpers every backup shares: a streamed SHA-256, and a fresh output directory."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from chaos.errors import BackupError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["CHUNK", "new_output_dir", "sha256_file"]

CHUNK = 1 << 16


def sha256_file(path: Path) -> str:
    """The file's SHA-256, read in chunks: memory stays flat whatever its size."""
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def new_output_dir(output: Path) -> None:
    """Create ``output``; refuse one that holds anything, so no backup overwrites another."""
    output.mkdir(parents=True, exist_ok=True)
    if any(output.iterdir()):
        raise BackupError(f"backup output {output} is not empty; choose a new directory")
