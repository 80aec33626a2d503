"""`rpt ablate`: a grid of ordinary `rpt train` runs (plus a compute-matched NTP baseline), evaluated
with `rpt eval` and summarised in one table.

grid.py (which cells), flops.py (compute, counted alike for RPT and NTP), runner.py (train, resume,
evaluate each cell), baseline.py (the NTP baseline), table.py (ablation.md / .csv and plots).
"""
