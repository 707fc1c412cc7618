"""workbench's UI-independent core: config, data, models, training, runs and checkpoints.

Nothing in this package imports textual, rich, `screens` or `workbench`.
"""
