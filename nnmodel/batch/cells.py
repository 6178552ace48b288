"""CSV cells for text columns (folder, path, error): RFC 4180-safe, spreadsheet-safe, valid UTF-8,
and reversible.

A backslash is doubled, each byte of a name that is not UTF-8 becomes `\\xNN`, and a value starting
with `=`, `+`, `-`, `@`, a tab, a CR or `'` gets a `'` in front, so that a spreadsheet shows it as
text instead of running it as a formula (OWASP "CSV injection"). `uncell` reverses all of it.
"""
from __future__ import annotations

import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
_ESCAPES = re.compile(r"(\\\\|\\x[0-9a-f]{2})")


def cell(text: str) -> str:
    """A text column's value as written (see the module docstring): CSV- and spreadsheet-safe, and
    valid UTF-8 whatever the file name's bytes."""
    if text.isascii() and "\\" not in text and not text.startswith(FORMULA_START):
        return text  # the common case, at C speed
    escaped = text.replace("\\", "\\\\").encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "'" + escaped if escaped.startswith(FORMULA_START) else escaped


def uncell(value: str) -> str:
    """The text behind a `cell` value (a file name comes back with its original bytes, as os.fsdecode
    would give them)."""
    if value.startswith("'"):
        value = value[1:]
    raw = bytearray()
    for part in _ESCAPES.split(value):
        if part == "\\\\":
            raw += b"\\"
        elif _ESCAPES.fullmatch(part):
            raw.append(int(part[2:], 16))
        else:
            raw += part.encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "surrogateescape")
