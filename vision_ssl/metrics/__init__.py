"""Pure metrics below the methods (no Lightning): kNN, collapse statistics (RankMe, ...), video-frame metrics.

`vision_ssl.methods` and `vision_ssl.eval` both import from here; nothing here imports either.
"""

from vision_ssl.metrics.collapse import (
    alignment,
    collapse_stats,
    embedding_std,
    is_collapsed,
    rankme,
    uniformity,
)
from vision_ssl.metrics.knn import knn_predict, knn_top1

__all__ = ["alignment", "collapse_stats", "embedding_std", "is_collapsed", "knn_predict", "knn_top1", "rankme", "uniformity"]
