"""Argument types shared by subcommands: checked when the command line is read, before any work starts."""
from __future__ import annotations

import argparse
import math


def positive_float(text: str) -> float:
    """A finite number > 0 (``--early-window-epochs``)."""
    value = finite_float(text)
    if not value > 0.0:
        raise argparse.ArgumentTypeError(f"{value:g}: expected a positive number")
    return value


def number(text: str) -> float:
    """A number, ±inf included, NaN refused (``evaluate -t``: the official script takes ``inf``; NaN would make
    every comparison false, silently). A huge integer reads as ±inf, as Python's float() does for 1e400."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number or ±inf, not NaN")
    return value


def finite_float(text: str) -> float:
    """A finite number (thresholds: NaN would make every comparison false, silently)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: expected a finite number")
    return value


def micro_batch(text: str) -> int | str:
    """``auto`` or a positive integer (``--micro-batch-size``)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer or auto") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: expected a positive integer or auto")
    return value
