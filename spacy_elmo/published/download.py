"""Fetch one URL to one file: resumed with HTTP Range after a cut connection, retried with backoff, verified,
and only then renamed into place.

The bytes go to ``TARGET.part``; a cut transfer leaves that file and the next try (in this call, or a later
run) asks the server for the rest (``Range: bytes=N-``), with ``If-Range`` and the file's ETag or Last-Modified
as the server first gave them (kept in ``TARGET.part.validator``), so that a file changed on the server in
between is sent whole instead of its tail being spliced onto the old start. Only a complete file whose hashes match what is
expected is renamed to ``TARGET``, so a file without ``.part`` is always whole. The standard library's
``urllib`` is used, so pretraining boxes with torch only can fetch too.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path
from typing import Dict, Optional

from ..atomic import atomic_path, write_text
from ..layout import DOWNLOAD_PART_SUFFIX, DOWNLOAD_VALIDATOR_SUFFIX
from ..progress import progress_bar
from .errors import DiskSpaceError, DownloadError, NetworkError, VerificationError

CHUNK = 1 << 20
TIMEOUT_S = 60.0
RETRIES = 5  # tries in a row that bring no new bytes
BACKOFF_S = 1.0  # doubled after each such try
USER_AGENT = "spacy-elmo (published ELMo models; Python urllib)"
DISK_MARGIN = 64 << 20  # keep this much free beyond what a download needs


class InsecureRedirectError(DownloadError):
    """An https URL redirected to plain http: refused, as the download would lose its protection on the way."""


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follow redirects (GitHub release files live behind one; the Range header goes along), never from https to http."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if req.full_url.lower().startswith("https://") and newurl.lower().startswith("http://"):
            raise InsecureRedirectError(
                f"{req.full_url} redirects to plain http ({newurl}); refused. Name the file's https address in your "
                "own registry (SPACY_ELMO_REGISTRY) if it has one."
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_NoDowngrade)


def file_hashes(path: Path, algorithms=("sha256",)) -> Dict[str, str]:
    """The hex digests of a file, read once."""
    digests = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            for digest in digests.values():
                digest.update(block)
    return {name: digest.hexdigest() for name, digest in digests.items()}


def check_hashes(path: Path, expected: Dict[str, str], what: str, fix: str) -> str:
    """The file's sha256, after checking it (and any other expected digest) against ``expected``."""
    found = file_hashes(path, tuple(dict.fromkeys(["sha256", *expected])))
    for name, value in expected.items():
        if found[name] != value.lower():
            raise VerificationError(
                f"{what}: {path.name} has {name} {found[name]}, but {value.lower()} was expected. {fix}"
            )
    return found["sha256"]


def check_free_space(folder: Path, needed: int, what: str) -> None:
    """Refuse early when ``needed`` bytes (plus a margin) will not fit on the disk of ``folder``."""
    free = shutil.disk_usage(folder).free
    if needed + DISK_MARGIN > free:
        raise DiskSpaceError(
            f"{what} needs {needed / 1e6:,.0f} MB but {folder} has {free / 1e6:,.0f} MB free. Free some space, "
            "or put the cache on a larger disk: SPACY_ELMO_CACHE=/big/disk/spacy-elmo."
        )


def fetch(
    url: str,
    target: Path,
    expected: Optional[Dict[str, str]] = None,
    size: Optional[int] = None,
    progress: bool = True,
    retries: Optional[int] = None,
    backoff_s: Optional[float] = None,
    mismatch_fix: str = "",
) -> str:
    """Download ``url`` to ``target`` (resuming ``target.part``); check ``expected`` hashes; return the sha256.

    The caller holds the lock for ``target``'s folder: two processes never write the same ``.part``.
    A hash mismatch deletes the ``.part`` (a resume would only repeat it) and raises.
    """
    target = Path(target)
    part = target.with_name(target.name + DOWNLOAD_PART_SUFFIX)
    target.parent.mkdir(parents=True, exist_ok=True)
    _transfer(url, part, size, progress, RETRIES if retries is None else retries, BACKOFF_S if backoff_s is None else backoff_s)
    fix = f"{mismatch_fix or _default_fix(url)} The download was deleted."
    try:
        if size is not None and part.stat().st_size != size:
            raise VerificationError(f"The download of {url} has {part.stat().st_size:,} bytes, but the registry says {size:,}. {fix}")
        sha256 = check_hashes(part, expected or {}, f"The download of {url}", fix)
    except VerificationError:
        part.unlink(missing_ok=True)
        _validator_file(part).unlink(missing_ok=True)
        raise
    with atomic_path(target, suffix=DOWNLOAD_PART_SUFFIX) as tmp:  # tmp is the verified .part: renamed onto target
        assert tmp == part, (tmp, part)  # the same name by construction: nothing is copied
    _validator_file(part).unlink(missing_ok=True)
    return sha256


def _validator_file(part: Path) -> Path:
    return part.with_name(part.name[: -len(DOWNLOAD_PART_SUFFIX)] + DOWNLOAD_VALIDATOR_SUFFIX)


def _validator(headers) -> Optional[str]:
    """What ``If-Range`` can name: a strong ETag, else Last-Modified (a weak ETag is not allowed there)."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def _default_fix(url: str) -> str:
    return ("The file on the server is not the one the registry names (changed, truncated or tampered with); "
            f"check the URL ({url}) and the registry's hash.")


def _transfer(url: str, part: Path, size: Optional[int], progress: bool, retries: int, backoff_s: float) -> None:
    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        reason: BaseException
        try:
            total = _one_try(url, part, have, size, progress)
            if part.stat().st_size == total:
                return
            reason = DownloadError(f"{url}: the server sent {part.stat().st_size:,} bytes, not {total:,}.")
        except urllib.error.HTTPError as err:
            if not (err.code in (408, 429) or err.code >= 500):
                raise DownloadError(_http_message(url, err)) from None
            reason = err
        except (DiskSpaceError, InsecureRedirectError):
            raise
        except (urllib.error.URLError, HTTPException, OSError, DownloadError) as err:
            reason = err
        got = part.stat().st_size if part.exists() else 0
        failures = 0 if got > have else failures + 1  # a cut transfer that brought bytes resumes at once
        if failures >= retries:
            raise _give_up(url, part, reason, retries)
        if failures:
            time.sleep(backoff_s * 2 ** (failures - 1))


def _one_try(url: str, part: Path, have: int, size: Optional[int], progress: bool) -> int:
    """One request from byte ``have`` on, appended to ``part``; the file's full size, if the server says it."""
    headers = {"User-Agent": USER_AGENT}
    validator_file = _validator_file(part)
    if have:
        headers["Range"] = f"bytes={have}-"
        if validator_file.is_file():  # the server sends the whole file instead (200) if it changed since
            headers["If-Range"] = validator_file.read_text(encoding="utf-8").strip()
    request = urllib.request.Request(url, headers=headers)
    try:
        response = _OPENER.open(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the .part may already be whole
            total = _content_range_total(err.headers.get("Content-Range"))
            if total == have:
                return have
            part.unlink()  # the server's file changed under us: start again
            raise DownloadError(f"{url}: the partial download no longer fits the server's file; starting again.") from None
        raise
    with response:
        status = response.status
        length = response.headers.get("Content-Length")
        if have and status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != have:
                part.unlink()
                raise DownloadError(f"{url}: the server resumed at byte {start}, not {have}; starting again.")
        else:  # 200: the whole file (no Range support, or it changed since the .part began), so start from zero
            have = 0
            part.unlink(missing_ok=True)
            total = int(length) if length and length.isdigit() else size
            validator = _validator(response.headers)
            if validator:
                write_text(validator_file, validator)
            else:
                validator_file.unlink(missing_ok=True)
        if have == 0:
            needed = total if total is not None else size
            if needed:
                check_free_space(part.parent, needed, f"Downloading {url}")
        with open(part, "ab") as out:  # append only: what arrived stays for the next try
            bar = progress_bar(progress, every=0.5, total=total, initial=have, unit="B", unit_scale=True,
                               unit_divisor=1024, desc=url.rsplit("/", 1)[-1][:40], leave=False)
            try:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    if bar is not None:
                        bar.update(len(block))
            finally:
                if bar is not None:
                    bar.close()
        if total is not None and part.stat().st_size < total:
            raise DownloadError(f"{url}: the connection was cut at byte {part.stat().st_size:,} of {total:,}.")
        return total if total is not None else part.stat().st_size


def _content_range(header: Optional[str]):
    match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", header or "")
    if not match:
        return None, None
    total = match.group(3)
    return int(match.group(1)), (int(total) if total != "*" else None)


def _content_range_total(header: Optional[str]) -> Optional[int]:
    match = re.match(r"bytes \*/(\d+)", header or "")
    return int(match.group(1)) if match else None


def _http_message(url: str, err: "urllib.error.HTTPError") -> str:
    if err.code == 404:
        return (f"{url} was not found (HTTP 404): the publisher moved or removed it. Give the model's new URL in "
                "your own registry (SPACY_ELMO_REGISTRY; see docs/original-weights.md).")
    if err.code in (401, 403):
        return f"{url} was refused (HTTP {err.code}): the server needs access you do not have, or the URL is wrong."
    return f"{url} failed with HTTP {err.code} ({err.reason})."


def _give_up(url: str, part: Path, reason: BaseException, retries: int) -> Exception:
    kept = f" What arrived is kept in {part}; the next try resumes from there." if part.exists() else ""
    if isinstance(reason, urllib.error.URLError) and not isinstance(reason, urllib.error.HTTPError):
        return NetworkError(
            f"Cannot reach {url} ({reason.reason}) after {retries} tries: no network, or a proxy or firewall in "
            f"the way (urllib reads HTTPS_PROXY / HTTP_PROXY).{kept}"
        )
    return DownloadError(f"Downloading {url} failed {retries} times in a row ({reason}).{kept}")

