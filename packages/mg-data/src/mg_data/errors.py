"""Exceptions raised by :mod:`mg_data`.

All of them derive from :class:`DatasetError`, itself a :class:`ValueError`, so
``except DatasetError`` catches every data problem this package reports.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CorruptFileError", "DatasetError", "DownloadError", "MissingDataError"]


class DatasetError(ValueError):
    """Base class of every error about data files raised by :mod:`mg_data`."""


class CorruptFileError(DatasetError):
    """A data file exists but is unreadable, truncated or has unexpected content.

    ``path`` is the offending file. The message says what is wrong and how to fix it.
    """

    def __init__(self, path: str | Path, message: str) -> None:
        super().__init__(message)
        self.path = Path(path)


class MissingDataError(DatasetError, FileNotFoundError):
    """Data files are missing (and were not, or could not be, downloaded).

    ``directory`` is where they were looked for and ``missing`` their file names.
    It is also a :class:`FileNotFoundError`.
    """

    def __init__(self, directory: str | Path, missing: list[str], message: str) -> None:
        super().__init__(message)
        self.directory = Path(directory)
        self.missing = list(missing)

    def __str__(self) -> str:
        # OSError.__str__ would format errno/filename; keep the plain message.
        return str(self.args[0])


class DownloadError(MissingDataError):
    """Downloading missing data files failed (offline, HTTP error or checksum mismatch)."""
