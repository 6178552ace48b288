"""Errors a user can act on. Their str() is one line that names the file (or thing) and the problem."""


class DigitsError(Exception):
    """Base of every expected, user-facing error; the CLI prints it as one line, without a traceback."""


class DataError(DigitsError, ValueError):
    """Bad input data: malformed file, wrong shape, checksum mismatch."""


class ModelFileError(DigitsError, ValueError):
    """A model file that is missing, tampered with or does not match its metadata."""


class SetupError(DigitsError, RuntimeError):
    """A problem with the environment: no model yet, unreachable server, missing folder."""


class StorageError(DigitsError, OSError):
    """The system refused a write: no space left, a read-only or unwritable place, too many open files.
    str() is one line: the path and the fault."""

    def __init__(self, path, error: OSError):
        super().__init__(error.errno, f"{path}: {error.strerror or error}")

    def __str__(self) -> str:
        return self.args[1]

    def __reduce__(self):
        """Pickled as its errno and message: it crosses process pools (a worker's full disk)."""
        return _storage_error, self.args


def _storage_error(errno: int, message: str) -> StorageError:
    error = StorageError.__new__(StorageError)
    OSError.__init__(error, errno, message)
    return error


SYSTEM_FAULTS = {28, 30, 13, 1, 122, 5, 24, 23, 27}   # ENOSPC EROFS EACCES EPERM EDQUOT EIO EMFILE ENFILE EFBIG


def as_storage_error(path, error: BaseException) -> BaseException:
    """`error` as a StorageError naming `path` when it is one of the system's write faults, else itself."""
    if isinstance(error, OSError) and not isinstance(error, DigitsError):
        if error.errno is None and str(error).startswith("Not enough free space"):  # NumPy's fallocate check
            error = OSError(28, "No space left on device")
        if error.errno in SYSTEM_FAULTS:
            return StorageError(getattr(error, "filename", None) or path, error)
    return error
