"""rpt: Reinforcement Pre-Training (arXiv 2506.08007) as a modular Lightning trainer."""

__version__ = "0.1.0"
