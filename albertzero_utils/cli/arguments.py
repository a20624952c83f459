"""Argument types shared by subcommands: checked when the command line is read, before any work starts."""
from __future__ import annotations

import argparse
import math


def fraction(text: str) -> float:
    """A number in (0, 1] (``--early-fraction``)."""
    value = finite_float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value:g}: expected a fraction in (0, 1]")
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
