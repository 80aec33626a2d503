"""Evaluation: next-token accuracy per difficulty bucket, reasoning patterns, scaling fits, reports."""

from rpt.eval.buckets import BucketResult, Difference, bucket_accuracy, paired_difference
from rpt.eval.evaluate import EvalSet, build_eval_set, run_eval
from rpt.eval.standard import greedy_next_tokens, standard_accuracy
from rpt.eval.tables import format_eval_table

__all__ = [
    "BucketResult", "Difference", "EvalSet", "bucket_accuracy", "build_eval_set", "format_eval_table",
    "greedy_next_tokens", "paired_difference", "run_eval", "standard_accuracy",
]
