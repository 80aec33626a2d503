"""Recipes: end-to-end programs built on rpt's public pieces, each with its own config group (installed as `rpt.recipes`)."""
