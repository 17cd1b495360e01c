"""``src.compare``: the seed's tables (and plots) from many runs' metrics.json files.

- ``collect``: finding runs (metrics.json files, offline W&B runs of a group, the W&B API), loading
  them, grouping them into methods, the seed's names;
- ``tables``: the seed's tables, their formatting, the significance tests, summary.json and runs.csv;
- ``plots``: precision/success curves and attribute radars;
- ``cli``: the command (``python -m src.compare``, config ``conf/compare.yaml``): the outputs and the
  W&B summary run.

The public names are re-exported here (``from src import compare; compare.build_tables(...)``). Note
that ``compare.collect`` is the function ``collect``; the module is ``src.compare.collect``.
"""

from src.compare.cli import log_wandb_summary, main, run, write_outputs
from src.compare.collect import (
    BASELINE_LABELS,
    OURS,
    SINGLE,
    SORTED,
    TSF_OFF,
    VARIANT_LABELS,
    Method,
    apply_speed_pass,
    ascii_label,
    collect,
    find_metrics_files,
    find_wandb_group,
    group_methods,
    label,
    load_record,
    method_key,
    records_from_wandb_api,
    sequence_set,
)
from src.compare.collect import _wandb_run_group as _wandb_run_group  # the tests read a run's group
from src.compare.plots import write_plots
from src.compare.tables import (
    ABLATION_ORDER,
    DECIMALS,
    ROBUSTNESS_ORDER,
    ROBUSTNESS_ROWS,
    TSF_COLUMNS,
    TSF_TESTED,
    Table,
    ablation_table,
    build_tables,
    fmt,
    fmt_p,
    methods_table,
    paired_test,
    relative_change,
    robustness_table,
    run_rows,
    significance_table,
    summary,
    tsf_table,
    verdict,
)

__all__ = [
    "ABLATION_ORDER", "BASELINE_LABELS", "DECIMALS", "OURS", "ROBUSTNESS_ORDER", "ROBUSTNESS_ROWS",
    "SINGLE", "SORTED", "TSF_COLUMNS", "TSF_OFF", "TSF_TESTED", "VARIANT_LABELS", "Method", "Table",
    "ablation_table", "apply_speed_pass", "ascii_label", "build_tables", "collect", "find_metrics_files",
    "find_wandb_group", "fmt", "fmt_p", "group_methods", "label", "load_record", "log_wandb_summary",
    "main", "method_key", "methods_table", "paired_test", "records_from_wandb_api", "relative_change",
    "robustness_table", "run", "run_rows", "sequence_set", "significance_table", "summary", "tsf_table",
    "verdict", "write_outputs", "write_plots",
]
