"""Training: the LightningModule, its objective, schedules, callbacks and entry-point helpers."""

from omegaconf import OmegaConf

# ${tags_with:${tags},a,b}: the run's tags plus a and b, duplicates dropped (W&B tags = user tags,
# variant and dataset).
if not OmegaConf.has_resolver("tags_with"):
    OmegaConf.register_new_resolver(
        "tags_with", lambda base, *extra: list(dict.fromkeys([*(base or []), *[e for e in extra if e]])))
