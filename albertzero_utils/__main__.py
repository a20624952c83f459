"""`python -m albertzero_utils ...` (and `accelerate launch -m albertzero_utils ...`) is the `albertzero` CLI."""
import sys

from .cli import main

sys.exit(main())
