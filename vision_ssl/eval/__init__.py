"""Evaluation: frozen features, linear probe, kNN, fine-tuning, ImageNet baselines, collapse monitors, report."""

from vision_ssl.eval.features import extract_features, extract_splits, init_kwargs, load_run, random_twin
from vision_ssl.eval.linear_probe import fit_linear, linear_probe, probe_features
from vision_ssl.metrics.collapse import alignment, collapse_stats, embedding_std, rankme, uniformity
from vision_ssl.metrics.knn import knn_predict, knn_top1

__all__ = [
    "alignment", "collapse_stats", "embedding_std", "extract_features", "extract_splits", "fit_linear",
    "init_kwargs", "knn_predict", "knn_top1", "linear_probe", "load_run", "probe_features", "random_twin",
    "rankme", "uniformity",
]
