"""Evaluation: feature extraction, offline linear probe (more evaluators build on these)."""

from vision_ssl.eval.features import extract_features, load_run
from vision_ssl.eval.linear_probe import fit_linear, linear_probe

__all__ = ["extract_features", "fit_linear", "linear_probe", "load_run"]
