"""The errors of the published-model layer: every one an :class:`~spacy_elmo.errors.ElmoError`, so the CLI
shows it as one line, and each message names the model, what went wrong and what to do."""
from __future__ import annotations

from ..errors import ElmoError


class RegistryError(ElmoError, ValueError):
    """A registry file or one of its entries is malformed."""


class UnknownModelError(ElmoError, KeyError):
    """No registry entry has this name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelUnavailableError(ElmoError):
    """The model is not in the cache and cannot be fetched now: offline (``SPACY_ELMO_OFFLINE``) or no network."""


class OfflineError(ModelUnavailableError):
    """``SPACY_ELMO_OFFLINE`` is set and the model is not in the cache."""


class NetworkError(ModelUnavailableError):
    """The server cannot be reached (no network, DNS, a proxy or firewall in the way)."""


class DownloadError(ElmoError):
    """A download failed for good (not found, refused, or still cut after every retry)."""


class VerificationError(ElmoError):
    """Downloaded or cached bytes do not match the hash they must have."""


class DiskSpaceError(ElmoError, OSError):
    """Not enough free disk space for what is about to be written."""


class ArchiveError(ElmoError):
    """An archive is unreadable, or holds a member that must not be unpacked."""
