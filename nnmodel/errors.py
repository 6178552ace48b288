"""Errors a user can act on. Their str() is one line that names the file (or thing) and the problem."""


class DigitsError(Exception):
    """Base of every expected, user-facing error; the CLI prints it as one line, without a traceback."""


class DataError(DigitsError, ValueError):
    """Bad input data: malformed file, wrong shape, checksum mismatch."""


class ModelFileError(DigitsError, ValueError):
    """A model file that is missing, tampered with or does not match its metadata."""


class SetupError(DigitsError, RuntimeError):
    """A problem with the environment: no model yet, unreachable server, missing folder."""
