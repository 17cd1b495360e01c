"""Training: the LightningModule, its objective, schedules, callbacks and entry-point helpers.

The configs' resolvers (``${tags_with:...}`` among them) are registered by src.conf.register_resolvers(),
which the entry points call."""
