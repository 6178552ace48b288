r"""Batch prediction of image folders into one CSV: list, cut into chunks, classify, merge.

Files are listed in a stable order (folder as given, then path) and cut into chunks; each chunk's
rows go to one part file in `<out>.parts/`, written atomically; merging writes the final CSV
atomically and removes the parts. A killed run keeps its finished parts, so `resume` redoes only the
missing files. Every directory entry that is not a folder (or hidden) gets exactly one row: `ok`,
`low_confidence`, `several_digits` (the ink is over twice as wide as tall: a number, see below),
`not_a_digit` (the model's not-a-digit class at or above the threshold, nnmodel.reject; the
error column says how likely), `blank` or `error` (pipes, sockets, devices and broken or looping
links included: they are never opened in a way that could block).

With `numbers=True` each file is read as a whole number (nnmodel.images.numbers) and its row has the
columns NUMBER_COLUMNS instead: the digits left to right as text (leading zeros kept), their count,
the lowest digit confidence, each digit's confidence (`;`-separated) and its columns in the image
(`x0:x1`, `;`-separated); marks that are not digits are left out; status `ok`, `low_confidence`
(some digit below the threshold), `not_a_digit` (ink, but no mark on it is a digit), `blank` or
`error`.

The CSV follows RFC 4180 (CRLF line ends, so a CR or LF inside a file name is quoted); text columns
are written by `cells.cell` (spreadsheet-safe, reversible with `cells.uncell`).

  output.py    the CSV checked before any work, and locked while it is written
  listing.py   the inputs listed in a stable order
  plan.py      listed, minus what a resumed run already wrote, cut into chunks
  classify.py  one chunk: decode, preprocess, predict, one row per file, its part file
  rows.py      the columns, statuses and counts of rows
  parts.py     part files, resuming, the merge into the final CSV
  cells.py     text columns made CSV- and spreadsheet-safe
  pool.py      the local process pool the chunks run in, opened and closed by its one owner
"""
