"""Unpack a downloaded archive (zip, tar, tar.gz, tar.bz2) without trusting it.

Every member is checked before anything is written: a name that is absolute, has a drive, climbs out with
``..`` or resolves outside the target folder is refused, and so is anything but a plain file or folder
(symlinks, hard links, devices, fifos). The declared total size is capped (a zip bomb), and the bytes
actually written are counted against the same cap. The archive goes into a fresh folder which the caller
renames into place, so a refused archive leaves nothing behind.
"""
from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterator, List, Tuple

from ..atomic import atomic_path
from ..layout import OPTIONS_NAME
from .errors import ArchiveError

MAX_UNPACKED_BYTES = 32 << 30  # no published ELMo model comes near this
CHUNK = 1 << 20


def unpack(archive: Path, dest: Path, max_bytes: int = MAX_UNPACKED_BYTES) -> Path:
    """Unpack ``archive`` into the new folder ``dest`` (which must not exist); refuse it whole if any member is unsafe."""
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        raise ArchiveError(f"{dest} exists already; remove it before unpacking {archive.name} there.")
    members = list(_members(archive))
    declared = 0
    for name, kind, size in members:
        _check_name(archive, name)
        if kind not in ("file", "dir"):
            raise ArchiveError(
                f"{archive.name} holds {name!r}, a {kind}: only plain files and folders are unpacked (a link could "
                "point outside the cache). The archive was refused and nothing was written; it is not a published model as expected."
            )
        declared += size
    if declared > max_bytes:
        raise ArchiveError(
            f"{archive.name} would unpack to {declared / 1e9:.1f} GB, over the {max_bytes / 1e9:.1f} GB limit: "
            "refused as a possible zip bomb."
        )
    from .download import check_free_space

    dest.parent.mkdir(parents=True, exist_ok=True)
    check_free_space(dest.parent, declared, f"Unpacking {archive.name}")
    dest.mkdir()
    try:
        _extract(archive, dest, max_bytes)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


def _check_name(archive: Path, name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    bad = (
        not name
        or path.is_absolute()
        or name.startswith(("/", "\\"))
        or (len(name) > 1 and name[1] == ":")  # a Windows drive
        or any(part == ".." for part in path.parts)
        or "\x00" in name
    )
    if bad:
        raise ArchiveError(
            f"{archive.name} holds {name!r}, which would be written outside its folder (absolute path, drive or '..'). "
            "The archive was refused and nothing was written."
        )


def _members(archive: Path) -> Iterator[Tuple[str, str, int]]:
    """(name, kind, declared size) of every member."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    mode = info.external_attr >> 16
                    if stat.S_ISLNK(mode):
                        kind = "symbolic link"
                    elif info.is_dir():
                        kind = "dir"
                    elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # 0: made on a system without Unix modes
                        kind = "special file"
                    else:
                        kind = "file"
                    yield info.filename, kind, info.file_size
            return
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                kind = ("file" if member.isreg() else "dir" if member.isdir() else "symbolic link" if member.issym()
                        else "hard link" if member.islnk() else "device or fifo")
                yield member.name, kind, member.size
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        raise ArchiveError(f"{archive} is not a readable zip or tar archive ({err}); delete it and download again.") from err


def _extract(archive: Path, dest: Path, max_bytes: int) -> None:
    root = dest.resolve()
    written = 0

    def target_of(name: str) -> Path:
        target = (root / name.replace("\\", "/")).resolve()
        if target != root and root not in target.parents:
            raise ArchiveError(f"{archive.name}: {name!r} resolves outside {dest}; refused.")
        return target

    def copy(source, target: Path) -> None:
        nonlocal written
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            raise ArchiveError(f"{archive.name} holds {target.relative_to(root)} twice; refused.")
        with atomic_path(target, unique=True) as tmp, open(tmp, "xb") as out:
            for block in iter(lambda: source.read(CHUNK), b""):
                written += len(block)
                if written > max_bytes:
                    raise ArchiveError(f"{archive.name} unpacks to more than its declared size and the limit; refused as a possible zip bomb.")
                out.write(block)

    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    target = target_of(info.filename)
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                    else:
                        with zf.open(info) as source:
                            copy(source, target)
            return
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                target = target_of(member.name)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                data = tf.extractfile(member)
                if data is None:  # pragma: no cover - checked as not a regular file above
                    raise ArchiveError(f"{archive.name}: {member.name!r} has no data.")
                with data:
                    copy(data, target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, FileExistsError) as err:
        raise ArchiveError(f"{archive} cannot be unpacked ({err}); delete it and download again.") from err


def find_model_folder(root: Path, fmt: str, subfolder=None) -> Path:
    """The folder of an unpacked archive that holds the model: ``subfolder`` if given, else the one folder
    (the top or below it) with the format's files."""
    if subfolder is not None:
        chosen = root / subfolder
        if not chosen.is_dir():
            raise ArchiveError(f"The archive has no folder {subfolder!r} (the registry's 'subfolder'); its top holds: "
                               f"{', '.join(sorted(p.name for p in root.iterdir())) or 'nothing'}.")
        return chosen
    wanted = _looks_like(fmt)
    found: List[Path] = [folder for folder in [root, *sorted(p for p in root.rglob("*") if p.is_dir())] if wanted(folder)]
    if len(found) != 1:
        what = ("an options .json + one .hdf5" if fmt == "allennlp" else "an ELMoForManyLangs model")
        raise ArchiveError(
            f"The archive holds {'no' if not found else len(found)} folder(s) with {what}"
            + (f" ({', '.join(str(f.relative_to(root)) for f in found)})" if found else "")
            + "; name the model's folder with 'subfolder' in the registry entry."
        )
    return found[0]


def _looks_like(fmt: str):
    if fmt == "elmoformanylangs":
        from ..bilm.io_elmoformanylangs import is_elmoformanylangs_dir

        return is_elmoformanylangs_dir
    return lambda folder: original_pair(folder) is not None


def original_pair(folder: Path):
    """(options .json, weights .hdf5) of a folder of original files: exactly one .hdf5, and options.json
    or else exactly one .json; None if the folder is not such a pair."""
    hdf5 = sorted(folder.glob("*.hdf5"))
    jsons = sorted(folder.glob("*.json"))
    options = folder / OPTIONS_NAME if (folder / OPTIONS_NAME).is_file() else (jsons[0] if len(jsons) == 1 else None)
    return (options, hdf5[0]) if options is not None and len(hdf5) == 1 else None
