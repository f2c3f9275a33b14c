"""Writes to the golden set, one module per concern. Callers use `from goldenset import services`.

- common.py    validation and content hashing
- items.py     items and their review (four eyes: an item is approved only by an SME other than its author,
               checked here and by a database constraint)
- versions.py  immutable golden-set versions
- imports.py   JSONL/CSV import with a per-row report, and export
- config.py    evaluation configuration and schedule
- runs.py      evaluation runs and their comparison with the baseline run
- reliability.py  schedule ticks, leases and the reaper of stuck evaluation runs
- coverage.py  coverage gaps computed on a worker and cached per deployment and window

Every public function is keyword-only and atomic.
"""

from .common import (
    IMPORT_FIELDS,
    MAX_ANSWER_CHARS,
    MAX_CATEGORY_CHARS,
    MAX_PROMPT_CHARS,
    MAX_TAGS,
    NEAR_DUPLICATE_SIMILARITY,
    SOURCES,
    Action,
    Status,
    canonical_item,
    item_content_hash,
    item_field_problems,
    item_pii,
    item_pii_blocks,
    version_content_hash,
)
from .reliability import EvalReapResult, RetryRefused, eval_run_claim, eval_run_retry, eval_runs_reap, schedule_tick
from .coverage import coverage_gaps_cached, coverage_gaps_refresh, coverage_gaps_request
from .config import (
    EVAL_CONFIG_FIELDS,
    eval_config_get,
    eval_config_update,
    eval_schedule_sync,
)
from .imports import (
    ImportReport,
    NearDuplicate,
    RowProblem,
    golden_export,
    golden_import,
    parse_import,
)
from .items import (
    encode_cached,
    golden_item_acknowledge_pii,
    golden_item_approve,
    golden_item_create,
    golden_item_reject,
    golden_item_retire,
    golden_item_submit,
    golden_item_update,
    golden_items_approve,
    golden_items_reembed,
)
from .runs import (
    eval_run_create,
    eval_run_execute,
    eval_run_set_baseline,
    eval_on_quality_drop,
    eval_scheduled,
    judge_calibration_label,
)
from .versions import golden_version_create

__all__ = [
    "golden_items_reembed",
    "EvalReapResult", "RetryRefused", "eval_run_claim", "eval_run_retry",
    "eval_runs_reap",
    "schedule_tick",
    "coverage_gaps_cached", "coverage_gaps_refresh", "coverage_gaps_request",
    "Action",
    "EVAL_CONFIG_FIELDS",
    "IMPORT_FIELDS",
    "ImportReport",
    "MAX_ANSWER_CHARS",
    "MAX_CATEGORY_CHARS",
    "MAX_PROMPT_CHARS",
    "MAX_TAGS",
    "NEAR_DUPLICATE_SIMILARITY",
    "NearDuplicate",
    "RowProblem",
    "SOURCES",
    "Status",
    "canonical_item",
    "encode_cached",
    "eval_config_get",
    "eval_config_update",
    "eval_run_create",
    "eval_run_execute",
    "eval_run_set_baseline",
    "eval_schedule_sync",
    "eval_on_quality_drop",
    "eval_scheduled",
    "judge_calibration_label",
    "golden_export",
    "golden_import",
    "golden_item_acknowledge_pii",
    "golden_item_approve",
    "golden_item_create",
    "golden_item_reject",
    "golden_item_retire",
    "golden_item_submit",
    "golden_item_update",
    "golden_items_approve",
    "golden_version_create",
    "item_content_hash",
    "item_field_problems",
    "item_pii",
    "item_pii_blocks",
    "parse_import",
    "version_content_hash",
]
