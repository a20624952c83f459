"""The committed material under data/, installed as the package ``albertzero_data`` (pyproject.toml maps it);
``albertzero_utils.paths`` is the one place that resolves it."""
