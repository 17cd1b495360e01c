"""The configs' Python side, in one place: resolvers, structured-config schemas, the YAML defaults.

- :func:`register_resolvers` registers the resolvers conf/ uses (``${uid:}``, ``${tags_with:...}``) and
  stores the schemas; every entry point calls it before Hydra composes. It is idempotent.
- The schemas are dataclasses of types only (every field ``MISSING``): the values live in conf/ (YAML).
  They are stored in Hydra's ConfigStore as ``schema/<name>``; ``conf/model/base.yaml`` extends
  ``schema/model`` (:class:`ModelConfig`), ``conf/model/net/base.yaml`` ``schema/net`` (:class:`NetConfig`)
  and each learning-rate schedule in ``conf/model/scheduler/`` its own, so a mistyped key or a value of
  the wrong type in a model config, an experiment or a command-line override fails while Hydra composes,
  naming the key.
- A network or a module built from a partial config (a test's small network, a checkpoint saved before a
  key existed) is completed from the same YAML files and checked against the same schemas:
  :func:`complete_net`, :func:`complete_section`, :func:`complete_model_config`. An unknown key or a bad
  value is a :class:`ConfigError` naming it.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


# -- resolvers ---------------------------------------------------------------------------------------
def _tags_with(base: Any, *extra: Any) -> list:
    """``${tags_with:${tags},a,b}``: the run's tags plus a and b, duplicates and empty values dropped (W&B
    tags = user tags, variant and dataset)."""
    return list(dict.fromkeys([*(base or []), *[e for e in extra if e]]))


def register_resolvers() -> None:
    """Register the resolvers conf/ uses and store the schemas (:func:`register_schemas`); idempotent.

    ``${uid:}`` is one short random id per process (use_cache): run directories of runs started in the
    same second never collide (conf/hydra/default.yaml). ``${tags_with:...}``: see :func:`_tags_with`.
    """
    if not OmegaConf.has_resolver("uid"):
        OmegaConf.register_new_resolver("uid", lambda: uuid.uuid4().hex[:6], use_cache=True)
    if not OmegaConf.has_resolver("tags_with"):
        OmegaConf.register_new_resolver("tags_with", _tags_with)
    register_schemas()


# -- schemas (types only: the values are in conf/model/) --------------------------------------------------
@dataclass
class BackboneConfig:
    """``model.net.backbone``: the ViT with candidate elimination (conf/model/net/base.yaml)."""

    embed_dim: int = MISSING
    depth: int = MISSING
    num_heads: int = MISSING
    mlp_ratio: float = MISSING
    qkv_bias: bool = MISSING
    drop_rate: float = MISSING
    attn_drop_rate: float = MISSING
    drop_path_rate: float = MISSING
    ce_loc: list[int] = MISSING
    ce_keep_ratio: list[float] = MISSING
    ce_template_mask: str = MISSING
    sort_kept: bool = MISSING
    stem: str = MISSING
    stem_channels: list[int] = MISSING
    pretrained: str | None = MISSING


@dataclass
class FusionConfig:
    """``model.net.fusion``: the fusion recipe after the backbone."""

    align: str = MISSING
    stages: list[str] | None = MISSING  # null: none (a visible-only network)
    num_heads: int | None = MISSING
    max_len: int = MISSING
    attn_drop: float = MISSING
    ceb_keep_ratio: float = MISSING


@dataclass
class HeadConfig:
    """``model.net.head``: the centre head."""

    channels: int = MISSING
    stride: int | None = MISSING
    xcorr: bool = MISSING


@dataclass
class NetConfig:
    """``model.net``: what ``src.models.build_network`` reads."""

    variant: str | None = MISSING
    modalities: list[str] = MISSING
    template_size: int = MISSING
    search_size: int = MISSING
    patch_size: int = MISSING
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    head: HeadConfig = field(default_factory=HeadConfig)


@dataclass
class OptimizerConfig:
    """``model.optimizer``: a partial of the optimiser (AdamW's keys) and the two keys the module reads
    to build the parameter groups: ``backbone_lr_mult`` (the backbone's lr is ``lr x backbone_lr_mult``)
    and ``backbone_prefixes`` (parameter-name prefixes inside the network that get it)."""

    _target_: str = MISSING
    _partial_: bool = MISSING
    lr: float = MISSING
    weight_decay: float = MISSING
    betas: list[float] = MISSING
    backbone_lr_mult: float = MISSING
    backbone_prefixes: list[str] = MISSING


@dataclass
class StepScheduleConfig:
    """``model.scheduler`` from conf/model/scheduler/step.yaml (src.learning.schedules.step_schedule)."""

    _target_: str = MISSING
    _partial_: bool = MISSING
    drop_epoch: int = MISSING
    gamma: float = MISSING


@dataclass
class CosineScheduleConfig:
    """``model.scheduler`` from conf/model/scheduler/cosine.yaml (src.learning.schedules.cosine_schedule)."""

    _target_: str = MISSING
    _partial_: bool = MISSING
    warmup_steps: int = MISSING
    min_lr_ratio: float = MISSING


@dataclass
class LossConfig:
    """``model.loss``: src.learning.objective.TrackingObjective's arguments."""

    focal_weight: float = MISSING
    giou_weight: float = MISSING
    l1_weight: float = MISSING
    box_at: str = MISSING
    center_cell: str = MISSING


@dataclass
class CEConfig:
    """``model.ce``: the candidate-elimination warm-up (epochs may be fractional)."""

    enabled: bool = MISSING
    start_epoch: int | float = MISSING
    warm_epochs: int | float = MISSING
    keep_ratio: float = MISSING


@dataclass
class FreezeConfig:
    """``model.freeze``: null trains everything; a list of name prefixes trains only those."""

    trainable: list[str] | None = MISSING


@dataclass
class ValidationConfig:
    """``model.validation``: tracking the validation sequences after each validation epoch."""

    track: bool = MISSING
    split: str = MISSING
    protocol: str = MISSING
    max_sequences: int | None = MISSING
    max_frames: int | None = MISSING


@dataclass
class TrackerConfig:
    """``model.tracker``: OSTrackTracker's settings that depend on the network (stored in checkpoints)."""

    size_lr: float = MISSING
    aspect_lr: float = MISSING


@dataclass
class ModelConfig:
    """``model``: TrackerLitModule's arguments (conf/model/base.yaml extends it as ``schema/model``).

    ``net`` is typed by :class:`NetConfig` through conf/model/net/base.yaml (which extends ``schema/net``),
    not here, so that code may still assign a whole network config to ``cfg.model.net`` (a checkpoint's).
    ``scheduler`` is null (no schedule) or one of conf/model/scheduler/'s schedules, each typed by its own
    schema (:data:`SCHEDULE_SCHEMAS`).
    """

    _target_: str = MISSING
    _recursive_: bool = MISSING
    net: Any = MISSING  # a NetConfig (conf/model/net/base.yaml extends schema/net); code may replace it whole
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: Any = MISSING
    loss: LossConfig = field(default_factory=LossConfig)
    ce: CEConfig = field(default_factory=CEConfig)
    freeze: FreezeConfig = field(default_factory=FreezeConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    init_ckpt: str | None = MISSING
    init_ckpt_allow_missing_head: bool = MISSING


# conf/model/scheduler/<name>.yaml -> the schema it extends (the YAML file holds the schedule's defaults)
SCHEDULE_SCHEMAS: dict[str, type] = {"step": StepScheduleConfig, "cosine": CosineScheduleConfig}
# the ConfigStore entries (group ``schema``) that conf/ extends
SCHEMAS: dict[str, type] = {"model": ModelConfig, "net": NetConfig, "step_schedule": StepScheduleConfig,
                            "cosine_schedule": CosineScheduleConfig}
# the sections of ``model`` besides ``net`` that TrackerLitModule completes from the YAML defaults
SECTIONS = ("optimizer", "scheduler", "loss", "ce", "freeze", "validation", "tracker")


def register_schemas() -> None:
    """Store :data:`SCHEMAS` in Hydra's ConfigStore as ``schema/<name>`` (storing again replaces them)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for name, node in SCHEMAS.items():
        store.store(group="schema", name=name, node=node)


# -- completing partial configs from the YAML defaults -----------------------------------------------------
class ConfigError(KeyError, ValueError):
    """An unknown key, a value of the wrong type or a missing value in a config, in one line naming the key.
    A KeyError and a ValueError, what the code before the schemas raised for each."""

    def __str__(self) -> str:  # KeyError's would quote the message
        return str(self.args[0]) if self.args else ""


def _yaml(relpath: str) -> DictConfig:
    """``conf/<relpath>`` as written, less its defaults list."""
    cfg = OmegaConf.load(CONF_DIR / relpath)
    if "defaults" in cfg:
        del cfg["defaults"]
    return cfg


def _relative_key(node: DictConfig, error: OmegaConfBaseException) -> str:
    """The key an OmegaConf error names, relative to ``node`` (which may sit inside a larger config)."""
    key = str(error.full_key or "")
    own = node._get_full_key(None) if node._get_parent() is not None else ""
    if own and (key == own or key.startswith(f"{own}.")):
        key = key[len(own) + 1:]
    return key


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if key else where


def _merge(base: DictConfig, given: Any, where: str) -> DictConfig:
    """``given`` merged over ``base`` (a typed config), OmegaConf's errors as one-line ConfigErrors."""
    if isinstance(given, DictConfig | ListConfig):
        given = OmegaConf.to_container(given, resolve=True)
    try:
        return OmegaConf.merge(base, given)
    except (ConfigKeyError, ConfigAttributeError) as error:
        key = _relative_key(base, error)
        parent = key.rpartition(".")[0]
        node = OmegaConf.select(base, parent) if parent else base
        known = ", ".join(sorted(str(k) for k in node)) if isinstance(node, DictConfig) else ""
        raise ConfigError(f"{_join(where, key)}: unknown key (known: {known})") from None
    except OmegaConfBaseException as error:
        message = str(error.msg).strip().splitlines()[0]
        raise ConfigError(f"{_join(where, _relative_key(base, error))}: {message}") from None


def _plain(cfg: DictConfig, where: str) -> dict[str, Any]:
    """A checked config as plain containers, interpolations resolved; a missing value is an error."""
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as error:
        message = str(error.msg).strip().splitlines()[0]
        raise ConfigError(f"{_join(where, _relative_key(cfg, error))}: {message}") from None


@cache
def _net_defaults() -> DictConfig:
    return _merge(OmegaConf.structured(NetConfig), _yaml("model/net/base.yaml"), "conf/model/net/base.yaml")


@cache
def _schedule_defaults(name: str) -> DictConfig | None:
    """conf/model/scheduler/<name>.yaml's ``scheduler`` (its package is ``model``), typed; None for none."""
    node = _yaml(f"model/scheduler/{name}.yaml").get("scheduler")
    if node is None:
        return None
    return _merge(OmegaConf.structured(SCHEDULE_SCHEMAS[name]), node, f"conf/model/scheduler/{name}.yaml")


@cache
def _model_defaults() -> DictConfig:
    """conf/model/base.yaml as Hydra composes it (its defaults list: ``schema/model``, ``scheduler/step``,
    ``net: base``); tests/test_structured_config.py checks that the two agree."""
    chosen = {"net": _net_defaults(), "scheduler": _schedule_defaults("step")}
    cfg = _merge(OmegaConf.structured(ModelConfig), chosen, "conf/model/base.yaml")
    return _merge(cfg, _yaml("model/base.yaml"), "conf/model/base.yaml")


def complete_net(net: Mapping | None) -> dict[str, Any]:
    """``model.net`` over conf/model/net/base.yaml's defaults, checked against :class:`NetConfig`."""
    if net is not None and not isinstance(net, Mapping):
        raise TypeError(f"model.net must be a mapping, got {type(net).__name__}")
    if isinstance(net, DictConfig):
        net = OmegaConf.to_container(net, resolve=True)
    # a null backbone / fusion / head section: all its defaults (as build_network always read it)
    net = {k: v for k, v in (net or {}).items() if not (v is None and k in ("backbone", "fusion", "head"))}
    return _plain(_merge(_net_defaults(), net, "model.net"), "model.net")


def _target_schedule(target: str | None) -> str | None:
    """The conf/model/scheduler/ schedule whose ``_target_`` is ``target`` (None: not one of them)."""
    for name in SCHEDULE_SCHEMAS:
        defaults = _schedule_defaults(name)
        if defaults is not None and defaults._target_ == target:
            return name
    return None


def _complete_scheduler(given: Mapping) -> dict[str, Any] | None:
    given = dict(given)
    if "name" in given and "_target_" not in given:
        # a config written before the schedules were partials (older checkpoints): ``name`` chose among
        # step | cosine | none, and every schedule's keys were stored; keep the chosen one's
        name = str(given.pop("name"))
        if name == "none":
            return None
        if name not in SCHEDULE_SCHEMAS:
            raise ConfigError(f"model.scheduler.name={name!r}: expected one of none, "
                              f"{', '.join(SCHEDULE_SCHEMAS)}")
        others = {f.name for schema in SCHEDULE_SCHEMAS.values() for f in fields(schema)}
        own = {f.name for f in fields(SCHEDULE_SCHEMAS[name])}
        given = {k: v for k, v in given.items() if k in own or k not in others}
        return _plain(_merge(_schedule_defaults(name), given, "model.scheduler"), "model.scheduler")
    default = _model_defaults().scheduler
    target = given.get("_target_", default._target_ if default is not None else None)
    name = _target_schedule(target)
    if name is not None:  # one of ours: its YAML defaults and its schema
        return _plain(_merge(_schedule_defaults(name), given, "model.scheduler"), "model.scheduler")
    if not target:
        raise ConfigError("model.scheduler: no _target_ (a schedule factory; see conf/model/scheduler/)")
    # another schedule factory: its keys must be its parameters
    from hydra.utils import get_method

    try:
        params = inspect.signature(get_method(str(target))).parameters
    except Exception as error:  # noqa: BLE001  (any failure to locate it means the same thing)
        raise ConfigError(f"model.scheduler._target_={target!r}: not found ({error})") from None
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(k for k in given if not k.startswith("_") and k not in params)
        if unknown:
            raise ConfigError(f"model.scheduler.{unknown[0]}: not a parameter of {target}")
    return given


def complete_section(name: str, given: Mapping | None) -> Any:
    """``model.<name>`` (one of :data:`SECTIONS`) over conf/model/base.yaml's, checked against the schema,
    as plain containers. ``scheduler``: an empty mapping is the default schedule (conf/model/scheduler/
    step.yaml), None no schedule; a config with ``name`` (older checkpoints) reads as today's partial."""
    if name not in SECTIONS:
        raise ValueError(f"complete_section: {name!r} is not one of {SECTIONS}")
    if given is not None and not isinstance(given, Mapping):
        raise ConfigError(f"model.{name} must be a mapping, got {type(given).__name__}")
    if isinstance(given, DictConfig):
        given = OmegaConf.to_container(given, resolve=True)
    given = current_targets(given)  # a checkpoint saved before a module was renamed loads as today's
    if name == "scheduler":
        return None if given is None else _complete_scheduler(given)
    return _plain(_merge(_model_defaults()[name], given or {}, f"model.{name}"), f"model.{name}")


# module paths an older config's ``_target_`` may name, and today's: the training package was src.training
TARGET_RENAMES = {"src.training.": "src.learning."}


def current_targets(tree: Any) -> Any:
    """``tree`` with every ``_target_`` naming a renamed module (:data:`TARGET_RENAMES`) read as today's."""
    if isinstance(tree, Mapping):
        out = {k: current_targets(v) for k, v in tree.items()}
        target = out.get("_target_")
        if isinstance(target, str):
            for old, new in TARGET_RENAMES.items():
                if target.startswith(old):
                    out["_target_"] = new + target[len(old):]
        return out
    return tree


def complete_model_config(model: Mapping) -> dict[str, Any]:
    """A whole ``model`` config (a run's, a checkpoint's) with every key conf/model/base.yaml has, older
    configs' keys read as today's (see :func:`complete_section`; renamed modules: :func:`current_targets`)."""
    if isinstance(model, DictConfig):
        model = OmegaConf.to_container(model, resolve=True)
    model = current_targets(dict(model))
    top = {k: v for k, v in model.items() if k not in ("net", *SECTIONS)}  # _target_, init_ckpt, ...
    merged = _plain(_merge(_model_defaults(), top, "model"), "model")
    out = {k: v for k, v in merged.items() if k not in ("net", *SECTIONS)}
    out["net"] = complete_net(model.get("net"))
    for name in SECTIONS:
        out[name] = complete_section(name, model.get(name, {} if name == "scheduler" else None))
    return out


def model_defaults() -> dict[str, Any]:
    """conf/model/base.yaml composed (the recipe's and the network's defaults), as plain containers."""
    return _plain(_model_defaults(), "conf/model/base.yaml")


# -- the options of the config groups ---------------------------------------------------------------------
# conf/tracker/ entries that run our network (a checkpoint, its ONNX export); every other one is a baseline
OUR_TRACKERS = ("ours", "onnx")


def config_names(group: str) -> list[str]:
    """The options of the config group ``conf/<group>/``: its YAML files' stems, sorted."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _variant_order(name: str) -> tuple[bool, bool, int]:
    stages = list(_yaml(f"variant/{name}.yaml").model.net.fusion.stages)
    return "ceb" in stages, stages[:1] == ["cmc1"], len(stages)


def variant_names() -> list[str]:
    """The fusion variants (``+variant=``, conf/variant/), simplest first, the order the study trains
    them in: single-modal, then the recipes without candidate elimination (CMC's before CMC1's, fewer
    blocks first), then those with it."""
    return sorted(config_names("variant"), key=_variant_order)


def baseline_names() -> list[str]:
    """The classical baseline trackers (``tracker=``, conf/tracker/ less :data:`OUR_TRACKERS`), sorted."""
    return [name for name in config_names("tracker") if name not in OUR_TRACKERS]


def compose_net(size: str = "cpu", variant: str = "cmc_cmc") -> dict[str, Any]:
    """``model.net`` of the composed training config ``model=<size> +variant=<variant>`` (conf/model/,
    conf/variant/), resolved: the network the benchmark scripts build (random weights)."""
    from hydra import compose, initialize_config_dir

    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train.yaml", overrides=[f"model={size}", f"+variant={variant}"])
    return OmegaConf.to_container(cfg.model.net, resolve=True)
