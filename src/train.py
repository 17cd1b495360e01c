"""Train a tracker variant, then track the test split with the best checkpoint.

    python -m src.train                                  # CMC* on the synthetic benchmark, CPU
    python -m src.train +variant=cmc_cmc                 # another fusion recipe
    python -m src.train -m +variant=cmc,cmc_cmc,cmc1     # an ablation: one run (and W&B run) each
    python -m src.train experiment=ablation_dual         # a preset (conf/experiment/)
    python -m src.train ckpt_path=last                   # resume the newest last.ckpt

Writes, in its run directory: checkpoints/ (best on val/MSR, last), csv/ and wandb/ logs,
samples/ (template | search | score map images), test/ (raw tracking results) and metrics.json.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import cv2
import hydra
import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from src.conf import register_resolvers
from src.data.datamodule import build_datamodule
from src.learning.checkpoints import (
    AtomicCheckpointIO,
    RunConfigInCheckpoint,
    checkpoint_info,
    export_weights,
    resolve_ckpt_path,
    run_config,
)
from src.learning.utils import instantiate_group, task_wrapper, to_float
from src.report import empty_report, print_results_table, run_identity, write_metrics
from src.report.wandb_run import define_best, log_checkpoint, log_report
from src.utils.cli import check_checkpoint, check_data_root, check_override_types, run_cli, set_cpu_threads
from src.utils.io import write_json

# ${uid:} (run directories) and ${tags_with:} (W&B tags): before Hydra composes this command's config
register_resolvers()
log = logging.getLogger(__name__)


def test_checkpoint(cfg: DictConfig, ckpt_path: str, output_dir: Path) -> dict[str, Any]:
    """Track ``cfg.data``'s test split with ``ckpt_path`` and score it as ``src.evaluate`` does
    (:func:`src.tracking.evaluation.evaluate_tracker`); raw results, plots and a report land in
    ``output_dir/test``. Returns the report (metrics.json content)."""
    from src.data import open_benchmark
    from src.tracking.evaluation import evaluate_tracker

    reader = open_benchmark(cfg.data, cfg.test_split)
    sequences = list(reader.sequences())
    if cfg.get("test_limit_sequences"):
        sequences = sequences[: int(cfg.test_limit_sequences)]
    factory = {"_target_": "src.tracking.tracker.OSTrackTracker.from_checkpoint", "ckpt_path": str(ckpt_path),
               "device": cfg.test_device, **(cfg.get("test_tracker") or {})}
    info = checkpoint_info(ckpt_path)
    return evaluate_tracker(factory, sequences, cfg.data.protocol, output_dir / "test",
                            subsets=reader.subsets(), tracker_name=info.get("variant") or "ours",
                            dataset=cfg.data.get("dataset") or cfg.data.name,
                            num_workers=int(cfg.test_workers), extra=info,
                            cpu_threads=cfg.get("cpu_threads"))


@task_wrapper
def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit, then test. Returns ``(metrics, objects)``: the metrics a sweeper reads and what was built."""
    start = time.perf_counter()
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)

    # checked first: a run that cannot resume what it was asked to stops before building anything
    config = run_config(cfg)
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), cfg.paths.log_dir, cfg.task_name, config)
    if ckpt_path and not cfg.get("train", True):
        log.warning("ckpt_path=%s is not used: train=false", cfg.ckpt_path)
    monitor_pair_iou_without_tracking(cfg)
    datamodule = build_datamodule(cfg)
    log.info("instantiating model <%s> (variant %s)", cfg.model._target_, cfg.model.net.variant)
    model = hydra.utils.instantiate(cfg.model, _convert_="all")
    write_load_reports(model, output_dir)
    # every checkpoint records the run's config (what ckpt_path=last matches) and is written atomically
    callbacks = [*instantiate_group(cfg.get("callbacks")), RunConfigInCheckpoint(config)]
    loggers = instantiate_group(cfg.get("logger"))
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                                                 plugins=[AtomicCheckpointIO()])
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    wandb_runs = [lg.experiment for lg in loggers if type(lg).__name__ == "WandbLogger"]
    checkpoint_cfg = (cfg.get("callbacks") or {}).get("model_checkpoint") or {}
    for run in wandb_runs:  # the summary keeps the best validation value, not the last
        if checkpoint_cfg.get("monitor"):
            define_best(run, checkpoint_cfg.monitor, checkpoint_cfg.get("mode", "max"))

    if cfg.get("train", True):
        trainer.fit(model=model, datamodule=datamodule, ckpt_path=ckpt_path)
    metrics = {k: to_float(v) for k, v in trainer.callback_metrics.items()}

    # the best checkpoint on the monitored metric; the last one when validation never ran
    best = ""
    checkpoint = trainer.checkpoint_callback
    if checkpoint is not None:
        best = checkpoint.best_model_path
        if checkpoint.best_model_score is not None and checkpoint.monitor:
            metrics[checkpoint.monitor] = to_float(checkpoint.best_model_score)
    if not best:
        best = next((c.best_model_path for c in trainer.checkpoint_callbacks if c.best_model_path), "")

    if trainer.is_global_zero:  # under `strategy=ddp` every rank runs this function
        dataset = cfg.data.get("dataset", cfg.data.get("name"))
        report = empty_report("ours", dataset, cfg.data.get("protocol"))
        if cfg.get("test") and best:
            report = test_checkpoint(cfg, best, output_dir)
            for run in wandb_runs:
                log_report(run, report, output_dir / "test")
            metrics.update({f"test/{k}": to_float(v) for k, v in (report.get("metrics") or {}).items()})
        elif cfg.get("test") and trainer.fast_dev_run:
            log.info("fast_dev_run saves no checkpoint: the end-of-run test is skipped")
        elif cfg.get("test"):
            log.warning("no checkpoint was saved (is callbacks.model_checkpoint disabled?): test skipped")
        # metrics.json: the test report's shape (src.report), the network's identity from this run's
        # config, and what training adds
        net = OmegaConf.to_container(cfg.model.net, resolve=True)
        report.update(run_identity(net, seed=cfg.get("seed"), ckpt_path=best or None))
        report.update({
            "wall_time_s": round(time.perf_counter() - start, 2),
            "train": {k: v for k, v in metrics.items() if not k.startswith("test/")},
            "global_step": trainer.global_step,
            "epochs": trainer.current_epoch,
        })
        if cfg.get("export_weights") and best:
            report["exported"] = export_weights(best, Path(cfg.export_weights))
        if best:  # the best checkpoint, with its test metrics, as the run's model artifact
            for run in wandb_runs:
                log_checkpoint(run, best, report, (report.get("exported") or {}).get("path"))
        write_metrics(output_dir, report)
        if report.get("metrics"):
            print_results_table(report, title=f"{report['variant']} on {report['dataset']} (test)")
        log.info("metrics.json: %s", output_dir / "metrics.json")
    return metrics, {"cfg": cfg, "datamodule": datamodule, "model": model, "trainer": trainer}


def write_load_reports(model: Any, output_dir: Path) -> None:
    """The starting weights' load reports (src/models/pretrained.py) beside the run's outputs:
    ``init_ckpt_report.json`` (model.init_ckpt) and ``pretrained_report.json`` (backbone.pretrained)."""
    reports = {"init_ckpt_report.json": getattr(model, "init_report", None),
               "pretrained_report.json": getattr(getattr(model, "net", None), "pretrained_report", None)}
    for name, report in reports.items():
        if report is not None:
            write_json(output_dir / name, report.to_dict())


# what validation logs only when it tracks the validation sequences (model.validation.track)
TRACKING_METRICS = ("val/MPR", "val/MSR", "val/AOR", "val/SR@0.5")


def monitor_pair_iou_without_tracking(cfg: DictConfig) -> None:
    """With ``model.validation.track=false`` no tracking metric is ever logged, so a checkpoint (or a
    sweep) monitoring one would fail at the first validation: monitor the pair IoU ``val/iou`` instead."""
    if cfg.model.get("validation", {}).get("track", True):
        return
    checkpoint = (cfg.get("callbacks") or {}).get("model_checkpoint")
    with open_dict(cfg):
        if checkpoint is not None and checkpoint.get("monitor") in TRACKING_METRICS:
            log.warning("model.validation.track=false: %s is never logged; the best checkpoint is chosen on "
                        "val/iou (the validation pairs' IoU) instead", checkpoint.monitor)
            checkpoint.monitor, checkpoint.mode = "val/iou", "max"
        if cfg.get("optimized_metric") in TRACKING_METRICS:
            cfg.optimized_metric = "val/iou"


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    # the trainers' Tensor Core warning is noise on CPU; on GPU, medium precision is the sane default
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("medium")
    # user errors (a bad value, a missing data root or checkpoint) end the run before anything is built
    check_override_types(cfg, Path(__file__).resolve().parents[1] / "conf" / "train.yaml")
    check_data_root(cfg.data, cfg.paths.get("data_dir"))
    if cfg.get("ckpt_path") != "last":
        check_checkpoint(cfg.get("ckpt_path"))
    set_cpu_threads(cfg.get("cpu_threads"))  # the application's choice, made once at its entry point
    # OpenCV in this process (validation tracking crops) must not start its thread pool: dataloader
    # workers forked afterwards would deadlock in cv2.setNumThreads (seen with persistent workers
    # off and with sample images drawn by OpenCV)
    cv2.setNumThreads(1)
    metrics, _ = train(cfg)
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        log.warning("optimized_metric %s was not logged (known: %s)", name, ", ".join(sorted(metrics)))
        return None
    return metrics[name]


if __name__ == "__main__":
    run_cli(main)
