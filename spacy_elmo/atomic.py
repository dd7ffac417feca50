"""Write a file so that nobody ever sees half of it: to a temporary name beside it, then rename.

A leaf module (it imports nothing from the package), so every layer -- the biLM's savers, the
trainer's checkpoints, the corpus cache, bulk embedding's parts and merged output, pictures --
uses the same rule:

    with atomic_path(target) as tmp:
        write_somehow(tmp)

``os.replace`` is atomic on one filesystem: ``target`` is the old file or the whole new one,
never a mix. If the block raises, the temporary file is removed and ``target`` is untouched.

The file ends with the permissions the umask gives a new file (0644 under the usual 022), whatever
mode its writer created it with: safetensors, for one, creates 0600 files, and a saved pipeline
must be readable by whoever may read the folder it is in (another user, another container).
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

TMP_SUFFIX = ".tmp"


@contextmanager
def atomic_path(path: Union[str, Path], suffix: str = TMP_SUFFIX, unique: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path``; moved onto ``path`` when the block succeeds.

    ``suffix`` ends the temporary name (some writers insist on an extension, e.g. ``.tmp.npz`` for
    ``numpy.savez``). ``unique`` gives each writer a name of its own, for files that two processes
    may write at once (a cluster re-running a chunk): each renames only its own complete file.
    """
    path = Path(path)
    middle = f".{uuid.uuid4().hex}" if unique else ""
    tmp = path.with_name(f"{path.name}{middle}{suffix}")
    try:
        yield tmp
        if tmp.is_file():
            os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once (the only portable way to read it)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file under the current umask."""
    return 0o666 & ~current_umask()


def write_bytes(path: Union[str, Path], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Union[str, Path], text: str, encoding: str = "utf-8") -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
