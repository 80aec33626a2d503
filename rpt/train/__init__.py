"""`rpt train`: the GRPO LightningModule, its task stream, checkpoints, loggers and the `train(cfg)` entry."""
