"""Built-in plugins, installed as the `rpt.plugins` package."""
