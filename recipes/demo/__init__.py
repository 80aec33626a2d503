"""The embedded CPU demo (`rpt demo`, `make demo`): a recipe on rpt's public pieces, with its own config group `demo`."""
