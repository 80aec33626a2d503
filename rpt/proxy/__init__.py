"""Proxy-entropy scoring: which corpus positions a small LM finds hard (RPT's token filter signal)."""

from rpt.proxy.artifact import ScoreArtifact, load_entropies, load_scores
from rpt.proxy.entropy import target_rank_and_prob, topk_entropy
from rpt.proxy.score import run_score, score_corpus

__all__ = [
    "ScoreArtifact", "load_entropies", "load_scores", "run_score", "score_corpus", "target_rank_and_prob", "topk_entropy",
]
