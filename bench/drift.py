"""Drift benchmark: out-of-sample false alarms, detection against an oracle, speed, beside Evidently 0.7.23.

    .venv/bin/python bench/drift.py [--quick] [--data DIR]

Prints ONE JSON line on stdout (progress goes to stderr). CLINC150 is read in place from
../shared/data/clinc150 (or $DRIFTDESK_CLINC_DIR), never copied; its embeddings are cached under
var/bench/, keyed by the data file's hash. Evidently runs in its own environment (.venv-bench,
requirements-bench.txt) because it needs pandas < 3.

Protocol (calibration sees only the baseline; every judged window is fresh and never calibrated on):
* The drift engine's promise is a false-alarm rate per window over baselines and windows (a
  production reference is one fixed sample of its baseline, so the windows of one baseline share
  its offset and their alarms cluster: 0-5% per baseline at a 1% rate). Every figure therefore
  pools BASELINES = 200 baselines, each a fresh seeded draw, with 10 windows each (2,000 windows
  per row): with few windows per baseline the binomial interval means what it says.
* CLINC: pool = train + val in-scope prompts (18,000); a baseline = 5,000 of them; windows of 1,000
  drawn from the other 13,000 (clinc_same_split) or from CLINC's test split (clinc_test_split).
* templated: responses that are 90% copies of 20 fixed answer texts, 10% CLINC prompts; baseline
  and windows from the same mixture (windows' unique texts from outside the baseline).
* synthetic: 384-d standard Gaussian baselines of 5,000 and fresh Gaussian windows of 1,000.
* detection: oos_k = k% of the window from CLINC's 1,200 out-of-scope prompts; unseen_domain_10 =
  a baseline without one CLINC domain (rotating), which then makes up 10% of the window.
* Two oracles, each from ORACLE_WINDOWS = 199 fresh null windows per baseline that are never judged:
  - oracle_detection (per baseline): the k-th largest of that baseline's own oracle windows (k from
    the conformal rule at 1%). It knows how its baseline's reference sample happens to sit against
    the true distribution, which no calibration from the baseline alone can know; see the README.
  - oracle_detection_pooled: one level for all baselines, the conformal 1% level over every
    baseline's oracle windows (39,800): the threshold a perfect calibration of our rule (one level
    in standardised units, promising a rate over baselines and windows) would set.
  Both are applied to the very windows our decision judged; detection_ratio(_pooled) = ours / oracle,
  with a 95% interval from resampling whole baselines (a baseline's windows share its reference).
* Rates carry binomial 95% intervals (scipy.stats.binomtest(...).proportion_ci, Clopper-Pearson).
* CLINC's test split is not drawn like train + val: its queries sit further from their nearest
  train + val neighbour (near-paraphrases were collected together and stayed in one split), so
  windows of it are a mild real shift. clinc_test_split_difference measures that on the data;
  oracle_pooled_false_alarm applies the pooled oracle's level (set on same-split windows) to the
  judged null windows of both splits.
* run_seconds / calibration_seconds / peak_mb: a 50,000 x 384 baseline and a 10,000 window, both
  targets (prompts and responses, each at half the 1% rate as the service does), in a fresh
  process: fit, calibrate both targets, then one drift run of both targets, the two targets
  concurrently as two worker slots run them (sequential figures beside); peak = VmHWM.
  Evidently's Report took 630 s on those arrays, so it and our whole check (fit, calibration, run;
  one target) are each timed once, in a fresh process, on the same 10,000 x 2,000 arrays.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "var" / "bench"
BENCH_VENV = REPO / ".venv-bench"
WINDOW = 1000
BASELINE = 5000
LARGE_BASELINE = 12_000  # the largest CLINC baseline that leaves 6,000 in-scope rows for windows
BIG_BASELINE, BIG_WINDOW = 50_000, 10_000
SMALL_BASELINE, SMALL_WINDOW = 10_000, 2_000  # both sides' timing (Evidently's Report on 50k x 10k: 630 s)
RATE = 0.01
DETECTION = ("oos_2", "oos_5", "oos_10", "unseen_domain_10")


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def peak_mb() -> float:
    """This program's resident peak in MB, BLAS buffers included.

    VmHWM (Linux) starts afresh at exec; ru_maxrss does not: a worker forked from the driver
    reported the driver's own peak (985 MB for every worker in the run of 29 Nov 2026).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def rate_with_interval(flags) -> dict:
    from scipy.stats import binomtest

    flags = np.asarray(flags, dtype=bool)
    k, n = int(flags.sum()), int(flags.size)
    ci = binomtest(k, n, RATE).proportion_ci(confidence_level=0.95)
    return {"rate": k / n, "ci95": [float(ci.low), float(ci.high)], "windows": n}


# ---------------------------------------------------------------------------------------------
# Workers: each runs in a fresh process so its peak memory is its own.


def suite_worker(out: Path) -> None:
    """Our drift run on the big arrays, both targets, as the service does it (run under the app's .venv).

    The service computes a window's two targets as two Celery tasks, and its default worker runs
    two at a time (docker/entrypoint.sh, --concurrency 2), so the headline figures run the two
    targets' calibrations, and then their drift runs, concurrently in two threads (numpy releases
    the GIL); the same work one target after the other is printed beside them. Wall and CPU
    seconds both: on a shared machine wall time also measures the other tenants.
    """
    from concurrent.futures import ThreadPoolExecutor

    sys.path.insert(0, str(REPO))
    from drift_app.stats import calibrate, evaluate_window, fit_baseline

    reference = np.load(CACHE / "big_reference.npy")
    current = np.load(CACHE / "big_current.npy")
    targets = {"prompts": (reference, current), "responses": (reference[::-1].copy(), current[::-1].copy())}
    fit_seconds, fitted = {}, {}
    for target, (ref, _) in targets.items():
        start = time.perf_counter()
        fitted[target] = fit_baseline(ref)
        fit_seconds[target] = time.perf_counter() - start

    def timed(work):
        start, cpu_start = time.perf_counter(), time.process_time()
        result = work()
        return result, time.perf_counter() - start, time.process_time() - cpu_start

    def calibrate_target(target):
        return calibrate(fitted[target], false_alarm_rate=RATE / 2)

    def run_target(target, calibration):
        window = targets[target][1][: calibration.max_window_size]
        return evaluate_window(fitted[target], calibration, window).drifted

    with ThreadPoolExecutor(max_workers=2) as pool:
        calibrations, calibration_seconds, calibration_cpu_seconds = timed(
            lambda: dict(zip(targets, pool.map(calibrate_target, targets)))
        )
        drifted, run_seconds, run_cpu_seconds = timed(
            lambda: dict(zip(targets, pool.map(lambda t: run_target(t, calibrations[t]), targets)))
        )
    sequential = {}
    for target in targets:
        calibration, seconds, cpu = timed(lambda: calibrate_target(target))
        _, run_wall, run_cpu = timed(lambda: run_target(target, calibration))
        sequential[target] = {"calibration_seconds": seconds, "calibration_cpu_seconds": cpu,
                              "run_seconds": run_wall, "run_cpu_seconds": run_cpu}
    out.write_text(json.dumps({
        "run_seconds": run_seconds, "fit_seconds": fit_seconds, "calibration_seconds": calibration_seconds,
        "run_cpu_seconds": run_cpu_seconds, "calibration_cpu_seconds": calibration_cpu_seconds,
        "sequential": sequential, "drifted": drifted, "peak_mb": peak_mb(),
        "load_average": os.getloadavg()[0],
    }))


def suite_small_worker(out: Path) -> None:
    """Our whole drift check on the arrays Evidently is timed on (one target, the 1% rate): fit,
    calibration and one drift run, one timed run in a fresh process, as Evidently's Report is timed."""
    sys.path.insert(0, str(REPO))
    from drift_app.stats import calibrate, evaluate_window, fit_baseline

    reference = np.load(CACHE / "small_reference.npy")
    current = np.load(CACHE / "small_current.npy")
    start, cpu_start = time.perf_counter(), time.process_time()
    fitted = fit_baseline(reference)
    calibration = calibrate(fitted, false_alarm_rate=RATE)
    calibrated_at = time.perf_counter()
    drifted = evaluate_window(fitted, calibration, current).drifted
    end = time.perf_counter()
    out.write_text(json.dumps({
        "seconds": end - start, "cpu_seconds": time.process_time() - cpu_start,
        "fit_and_calibration_seconds": calibrated_at - start, "run_seconds": end - calibrated_at,
        "drifted": bool(drifted), "peak_mb": peak_mb(),
    }))


def evidently_big_worker(out: Path, part: str, prefix: str = "big") -> None:
    """Evidently on the ``prefix`` arrays: its Report with EmbeddingsDriftMetric, or the bare method."""
    import pandas as pd
    from evidently.legacy.metrics import EmbeddingsDriftMetric
    from evidently.legacy.metrics.data_drift.embedding_drift_methods import model
    from evidently.legacy.pipeline.column_mapping import ColumnMapping
    from evidently.legacy.report import Report

    reference = np.load(CACHE / f"{prefix}_reference.npy")
    current = np.load(CACHE / f"{prefix}_current.npy")
    columns = [f"e{i}" for i in range(reference.shape[1])]
    start = time.perf_counter()
    ref_df = pd.DataFrame(reference, columns=columns)
    cur_df = pd.DataFrame(current, columns=columns)
    if part == "report":
        report = Report(metrics=[EmbeddingsDriftMetric("prompt")])
        report.run(reference_data=ref_df, current_data=cur_df, column_mapping=ColumnMapping(embeddings={"prompt": columns}))
        result = report.as_dict()["metrics"][0]["result"]
        drifted = bool(result["drift_detected"])
    else:
        _, drifted, _ = model()(cur_df, ref_df)
    out.write_text(json.dumps({"seconds": time.perf_counter() - start, "drifted": bool(drifted), "peak_mb": peak_mb()}))


# ---------------------------------------------------------------------------------------------
# Driver.


def data_dir(arg: str | None) -> Path:
    chosen = arg or os.environ.get("DRIFTDESK_CLINC_DIR") or str(REPO.parent / "shared" / "data" / "clinc150")
    return Path(chosen)


def load_embeddings(directory: Path) -> tuple[dict[str, list], dict[str, np.ndarray]]:
    raw = (directory / "data_full.json").read_bytes()
    data = json.loads(raw)
    digest = hashlib.sha256(raw).hexdigest()[:16]
    path = CACHE / f"clinc150-{digest}-all-MiniLM-L6-v2.npz"
    if path.exists():
        with np.load(path) as archive:
            return data, {split: archive[split] for split in archive.files}
    log(f"embedding {sum(len(v) for v in data.values())} CLINC texts once (about a minute)...")
    sys.path.insert(0, str(REPO))
    from drift_app import embeddings

    vectors = {split: embeddings.encode([row[0] for row in rows]) for split, rows in data.items()}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **vectors)
    return data, vectors


def ensure_bench_venv() -> str | None:
    """Returns None when .venv-bench can import evidently, else the reason it cannot."""
    python = BENCH_VENV / "bin" / "python"
    check = [str(python), "-c", "import evidently.legacy.metrics, pandas"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return None
    log("creating .venv-bench for Evidently (requirements-bench.txt)...")
    try:
        subprocess.run(["python3", "-m", "venv", str(BENCH_VENV)], check=True, stdout=sys.stderr)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(REPO / "requirements-bench.txt")],
            check=True,
            stdout=sys.stderr,
        )
    except (subprocess.CalledProcessError, OSError) as error:
        return f"could not build .venv-bench: {error}"
    if subprocess.run(check, capture_output=True).returncode != 0:
        return "evidently does not import in .venv-bench"
    return None


def run_worker(python: Path | str, args: list[str], out: Path) -> dict:
    out.unlink(missing_ok=True)
    subprocess.run([str(python), str(Path(__file__).resolve()), *args, "--out", str(out)], check=True, stdout=sys.stderr)
    return json.loads(out.read_text())


TEMPLATES = [
    "Thanks for reaching out! I have passed your request to our team and you will hear back within one business day.",
    "I'm sorry, I can't help with that here. Please contact support through the app.",
    "Your request has been processed successfully. Is there anything else I can help you with?",
    "Sure! You can change this in Settings under Account, then Preferences.",
    "I could not find an order with that number. Please check it and try again.",
    "Great question. Our plans start at 10 dollars a month and you can cancel at any time.",
    "For your security, please do not share your password or card number in this chat.",
    "Your appointment is confirmed. You will receive a reminder the day before.",
    "I have updated your details. The change may take a few minutes to show.",
    "Please restart the app and sign in again; that usually fixes this.",
    "Your refund has been issued and should arrive in 5 to 7 business days.",
    "Here is the link to reset your password: open Settings, then Security.",
    "I understand your frustration, and I'm escalating this to a specialist now.",
    "Delivery usually takes 3 to 5 business days after the order ships.",
    "You can find your invoices under Billing in your account dashboard.",
    "That feature is not available on your current plan.",
    "Our opening hours are 9 to 5, Monday to Friday.",
    "I've added that to your list. Anything else?",
    "The weather service is unavailable right now; please try again later.",
    "Goodbye, and have a great day!",
]


class Judge:
    """One baseline: fitted, calibrated, and every window judged by our rule and by the oracle's."""

    def __init__(self, stats, vectors: np.ndarray, baseline_rows: np.ndarray, seed: int):
        self.stats, self.vectors = stats, vectors
        self.fitted = stats.fit_baseline(vectors[baseline_rows], seed=seed)
        self.calibration = stats.calibrate(self.fitted, false_alarm_rate=RATE, seed=seed)
        self.oracle_level: float | None = None

    def judge(self, windows: np.ndarray, seed: int = 0):
        return self.stats.evaluate_windows(self.fitted, self.calibration, self.vectors, windows, seed=seed)

    def set_oracle(self, null_windows: np.ndarray) -> np.ndarray:
        """The per-baseline oracle's level from fresh null windows; returns their combined statistics."""
        values = self.judge(null_windows, seed=99).combined
        ordered = np.sort(values)
        k = min(ordered.size, int(np.ceil((ordered.size + 1) * (1 - RATE))))
        self.oracle_level = float(ordered[k - 1])
        return values


class Detections:
    """One detection row: per baseline, our decisions, the per-baseline oracle's, and the combined statistic
    (which the pooled oracle's level is applied to afterwards)."""

    def __init__(self) -> None:
        self.ours: list[np.ndarray] = []
        self.oracle: list[np.ndarray] = []
        self.combined: list[np.ndarray] = []

    def add(self, judge: Judge, windows: np.ndarray):
        decision = judge.judge(windows)
        self.ours.append(decision.combined_drifted)
        self.oracle.append(decision.combined > judge.oracle_level)
        self.combined.append(decision.combined)
        return decision


def draw(rng: np.random.Generator, candidates: np.ndarray, k: int, count: int) -> np.ndarray:
    return np.stack([rng.choice(candidates, k, replace=False) for _ in range(count)])


def mixed(rng, main: np.ndarray, other: np.ndarray, share: float, count: int) -> np.ndarray:
    k = int(round(WINDOW * share))
    return np.concatenate([draw(rng, main, WINDOW - k, count), draw(rng, other, k, count)], axis=1)


def templated_rows(rng, template_rows: np.ndarray, unique_from: np.ndarray, count: int, size: int) -> np.ndarray:
    """Templated responses: 90% copies of 20 answers (one text, one vector: the same row), 10% unique."""
    copies = rng.random((count, size)) < 0.9
    rows = rng.choice(template_rows, (count, size))
    unique = np.stack([rng.choice(unique_from, size, replace=False) for _ in range(count)])
    return np.where(copies, rows, unique)


def templated_false_alarms(stats, everything, pool_rows, template_rows, args) -> list:
    """Many templated baselines with a few fresh windows each.

    A production reference is one fixed sample of the baseline, so every window of one baseline
    shares its offset, and with templated traffic (20 texts make 90% of it) that offset moves every
    statistic at once: one baseline in ten alarmed on 13% of its windows while the others stayed
    near 0-1%. The rate is promised over baselines and windows; 10 baselines of 100 windows measure
    it with an interval that ignores that clustering. TEMPLATED_BASELINES baselines of a few windows
    each make the windows close to independent, so the binomial interval means what it says.
    """
    flags = []
    for t in range(args.templated_baselines):
        rng = np.random.default_rng(300 + t)
        base = np.sort(rng.choice(pool_rows, BASELINE, replace=False))
        rest = np.setdiff1d(pool_rows, base)
        judge = Judge(stats, everything, templated_rows(rng, template_rows, base, 1, BASELINE)[0], seed=t)
        flags.append(judge.judge(templated_rows(rng, template_rows, rest, args.templated_windows, WINDOW)).combined_drifted)
        if (t + 1) % 10 == 0:
            log(f"templated baseline {t + 1}/{args.templated_baselines}: false alarms {np.mean(np.concatenate(flags)):.4f}")
    return flags


def pooled_level(null_combined: list) -> float:
    """One threshold for every baseline: the conformal 1% level of the combined statistic over all
    baselines' oracle null windows (fresh, never judged).

    This is the threshold a perfect calibration of our rule would set: the rule promises a rate
    over baselines and windows, and its level is one number in standardised units.
    """
    values = np.sort(np.concatenate(null_combined))
    k = min(values.size, int(np.ceil((values.size + 1) * (1 - RATE))))
    return float(values[k - 1])


def large_baselines(stats, everything, pool_rows, oos_rows, args) -> dict:
    """oos_2 and same-split false alarms with baselines of LARGE_BASELINE rows (the pool, the
    reference's source, grows from 3,150 to 7,560 rows): how the per-baseline oracle's advantage
    shrinks as the reference's own noise does. Windows come from the 6,000 rows left, so they
    overlap more than the main rows' windows do."""
    row, oracle_null, null_flags = Detections(), [], []
    for b in range(args.large_baselines):
        rng = np.random.default_rng(700 + b)
        base = np.sort(rng.choice(pool_rows, LARGE_BASELINE, replace=False))
        rest = np.setdiff1d(pool_rows, base)
        judge = Judge(stats, everything, base, seed=b)
        null_flags.append(judge.judge(draw(rng, rest, WINDOW, args.windows_per_baseline)).combined_drifted)
        oracle_null.append(judge.set_oracle(draw(rng, rest, WINDOW, args.oracle_windows)))
        row.add(judge, mixed(rng, rest, oos_rows, 0.02, args.detection_windows))
    level = pooled_level(oracle_null)
    ours, oracle, pooled = row.ours, row.oracle, [values > level for values in row.combined]
    log(f"large baselines: oos_2 ours {np.mean(np.concatenate(ours)):.3f}, per-baseline oracle "
        f"{np.mean(np.concatenate(oracle)):.3f}, pooled oracle {np.mean(np.concatenate(pooled)):.3f}")
    return {
        "baseline_size": LARGE_BASELINE, "window_size": WINDOW,
        "false_alarm_clinc_same_split": rate_with_interval(np.concatenate(null_flags)),
        "detection_oos_2": rate_with_interval(np.concatenate(ours)),
        "oracle_detection_oos_2": rate_with_interval(np.concatenate(oracle)),
        "oracle_detection_pooled_oos_2": rate_with_interval(np.concatenate(pooled)),
        "detection_ratio_oos_2": ratio_with_interval(ours, oracle),
        "detection_ratio_pooled_oos_2": ratio_with_interval(ours, pooled),
    }


def measure(data: dict, vectors: dict, domains: dict, template_vectors: np.ndarray, args) -> tuple[dict, dict]:
    sys.path.insert(0, str(REPO))
    from drift_app import stats

    splits = ("train", "val", "test", "oos_train", "oos_val", "oos_test")
    everything = np.concatenate([vectors[s] for s in splits] + [template_vectors])
    offsets = np.cumsum([0] + [len(data[s]) for s in splits])
    pool_rows = np.arange(offsets[0], offsets[2])
    test_rows = np.arange(offsets[2], offsets[3])
    oos_rows = np.arange(offsets[3], offsets[6])
    template_rows = np.arange(offsets[6], offsets[6] + len(template_vectors))
    intent_domain = {intent: domain for domain, intents in domains.items() for intent in intents}
    pool_domain = np.array([intent_domain[intent] for s in ("train", "val") for _, intent in data[s]])
    names = sorted(domains)

    flags: dict[str, list] = {k: [] for k in ("synthetic", "clinc_same_split", "clinc_test_split", "templated")}
    rows = {k: Detections() for k in DETECTION}
    oracle_null: dict[str, list] = {"clinc": [], "unseen_domain": []}  # oracle null windows' combined statistic
    null_combined: dict[str, list] = {"clinc_same_split": [], "clinc_test_split": []}  # judged null windows' combined statistic
    evidently_spec: dict = {"windows": {}, "refs": []}
    per, det, orc = args.windows_per_baseline, args.detection_windows, args.oracle_windows
    started = time.perf_counter()
    for b in range(args.baselines):
        rng = np.random.default_rng(100 + b)
        base = np.sort(rng.choice(pool_rows, BASELINE, replace=False))
        rest = np.setdiff1d(pool_rows, base)
        judge = Judge(stats, everything, base, seed=b)
        null = draw(rng, rest, WINDOW, per)
        decision = judge.judge(null)
        flags["clinc_same_split"].append(decision.combined_drifted)
        null_combined["clinc_same_split"].append(decision.combined)
        test = draw(rng, test_rows, WINDOW, per)
        decision = judge.judge(test)
        flags["clinc_test_split"].append(decision.combined_drifted)
        null_combined["clinc_test_split"].append(decision.combined)
        oracle_null["clinc"].append(judge.set_oracle(draw(rng, rest, WINDOW, orc)))
        for share in (2, 5, 10):
            windows = mixed(rng, rest, oos_rows, share / 100, det)
            rows[f"oos_{share}"].add(judge, windows)
            if b < args.evidently_baselines:
                evidently_spec["windows"].setdefault(f"oos_{share}", []).append((windows, b))
        if b < args.evidently_baselines:
            evidently_spec["windows"].setdefault("clinc_same_split", []).append((null, b))
            evidently_spec["windows"].setdefault("clinc_test_split", []).append((test, b))
            evidently_spec["refs"].append(base)

        domain = names[b % len(names)]
        seen = pool_rows[pool_domain != domain]
        unseen = pool_rows[pool_domain == domain]
        base_d = np.sort(rng.choice(seen, BASELINE, replace=False))
        rest_d = np.setdiff1d(seen, base_d)
        judge_d = Judge(stats, everything, base_d, seed=b)
        oracle_null["unseen_domain"].append(judge_d.set_oracle(draw(rng, rest_d, WINDOW, orc)))
        rows["unseen_domain_10"].add(judge_d, mixed(rng, rest_d, unseen, 0.10, det))

        gaussian = np.random.default_rng(500 + b).standard_normal((BASELINE + 20_000, 384)).astype(np.float32)
        judge_g = Judge(stats, gaussian, np.arange(BASELINE), seed=b)
        flags["synthetic"].append(judge_g.judge(draw(rng, np.arange(BASELINE, BASELINE + 20_000), WINDOW, per)).combined_drifted)
        if (b + 1) % 10 == 0 or b + 1 == args.baselines:
            log(f"baseline {b + 1}/{args.baselines} ({time.perf_counter() - started:.0f} s): "
                + ", ".join(f"{k} {np.mean(np.concatenate(v)):.3f}" for k, v in {**flags, **{k: r.ours for k, r in rows.items()}}.items() if v))

    flags["templated"] = templated_false_alarms(stats, everything, pool_rows, template_rows, args)
    large = large_baselines(stats, everything, pool_rows, oos_rows, args)
    evidently_spec["everything"] = everything
    false_alarm = {k: rate_with_interval(np.concatenate(v)) for k, v in flags.items()}
    detection = {k: rate_with_interval(np.concatenate(r.ours)) for k, r in rows.items()}
    oracle_detection = {k: rate_with_interval(np.concatenate(r.oracle)) for k, r in rows.items()}
    levels = {"clinc": pooled_level(oracle_null["clinc"]), "unseen_domain": pooled_level(oracle_null["unseen_domain"])}
    pooled_flags = {k: [values > levels["unseen_domain" if k == "unseen_domain_10" else "clinc"] for values in rows[k].combined]
                    for k in DETECTION}
    pooled = {k: rate_with_interval(np.concatenate(v)) for k, v in pooled_flags.items()}
    # The pooled oracle's own alarms on the judged null windows: near 1% on the same split by
    # construction; on the test split they show how far that split differs from train + val.
    oracle_pooled_false_alarm = {k: rate_with_interval(np.concatenate(v) > levels["clinc"]) for k, v in null_combined.items()}
    eb = args.evidently_baselines
    ours_on_evidently_windows = {
        **{k: rate_with_interval(np.concatenate(flags[k][:eb])) for k in ("clinc_same_split", "clinc_test_split")},
        **{f"oos_{s}": rate_with_interval(np.concatenate(rows[f"oos_{s}"].ours[:eb])) for s in (2, 5, 10)},
    }
    return {
        "false_alarm": false_alarm, "detection": detection, "oracle_detection": oracle_detection,
        "oracle_detection_pooled": pooled,
        "oracle_pooled_levels": levels,
        "oracle_pooled_false_alarm": oracle_pooled_false_alarm,
        "clinc_test_split_difference": split_difference(everything, pool_rows, test_rows),
        "detection_ratio": {k: ratio_with_interval(rows[k].ours, rows[k].oracle) for k in DETECTION},
        "detection_ratio_pooled": {k: ratio_with_interval(rows[k].ours, pooled_flags[k]) for k in DETECTION},
        "ours_on_evidently_windows": ours_on_evidently_windows,
        "large_baseline": large,
    }, evidently_spec


def split_difference(everything: np.ndarray, pool_rows: np.ndarray, test_rows: np.ndarray, n: int = 3000) -> dict:
    """Is CLINC's test split drawn like train + val? Each query's cosine to its nearest neighbour
    among 5,000 train + val rows, for held-out train + val queries and for test queries, with a
    Mann-Whitney test: near-paraphrases collected together sit in train + val, not across splits."""
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(0)
    base = rng.choice(pool_rows, BASELINE, replace=False)
    rest = np.setdiff1d(pool_rows, base)
    reference = everything[base]
    same = (everything[rng.choice(rest, n, replace=False)] @ reference.T).max(axis=1)
    test = (everything[rng.choice(test_rows, n, replace=False)] @ reference.T).max(axis=1)
    return {"nn_cosine_same_split": round(float(same.mean()), 4), "nn_cosine_test_split": round(float(test.mean()), 4),
            "near_duplicate_share_same_split": round(float(np.mean(same > 0.95)), 4),
            "near_duplicate_share_test_split": round(float(np.mean(test > 0.95)), 4),
            "mann_whitney_p": float(mannwhitneyu(same, test).pvalue), "queries": n}


def ratio_with_interval(ours: list, oracle: list, reps: int = 2000) -> dict:
    """ours / oracle detection with a 95% interval from resampling whole baselines (a baseline's
    windows share its reference, so they are not independent draws)."""
    hits = np.array([[np.sum(o), np.sum(r)] for o, r in zip(ours, oracle)], dtype=np.float64)
    if hits[:, 1].sum() == 0:
        return {"ratio": None, "ci95": None, "baselines": len(ours)}
    rng = np.random.default_rng(0)
    resampled = hits[rng.integers(0, len(hits), (reps, len(hits)))].sum(axis=1)
    ratios = resampled[:, 0] / np.maximum(resampled[:, 1], 1.0)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return {"ratio": round(hits[:, 0].sum() / hits[:, 1].sum(), 4), "ci95": [round(float(low), 4), round(float(high), 4)],
            "baselines": len(ours)}


def evidently_windows_worker(out: Path) -> None:
    """Evidently's default embedding-drift verdict (model(), the domain classifier) per window."""
    import pandas as pd
    from evidently.legacy.metrics.data_drift.embedding_drift_methods import model

    vectors = np.load(CACHE / "windows_vectors.npy")
    spec = np.load(CACHE / "windows_spec.npz")
    columns = [f"e{i}" for i in range(vectors.shape[1])]
    method = model()  # what EmbeddingsDriftMetric uses for references of >= 1,000 rows
    result = {}
    for name in json.loads(spec["names"].tobytes().decode()):
        windows, refs = spec[f"{name}_windows"], spec[f"{name}_refs"]
        flags = []
        for rows, ref_id in zip(windows, refs):
            ref_df = pd.DataFrame(vectors[spec[f"ref_{ref_id}"]], columns=columns)
            cur_df = pd.DataFrame(vectors[rows], columns=columns)
            flags.append(bool(method(cur_df, ref_df)[1]))
        result[name] = {"drifted": int(np.sum(flags)), "windows": len(flags)}
        log(f"evidently {name}: {np.mean(flags):.3f}")
    out.write_text(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 baselines x 10 windows (a smoke run, not the figures)")
    parser.add_argument("--data", help="CLINC150 directory (data_full.json, domains.json)")
    parser.add_argument("--suite-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--evidently-big", choices=("report", "method"), help=argparse.SUPPRESS)
    parser.add_argument("--arrays", default="big", choices=("big", "small"), help=argparse.SUPPRESS)
    parser.add_argument("--suite-small-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--evidently-windows", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--skip-evidently", action="store_true", help="leave Evidently out")
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.suite_worker:
        return suite_worker(args.out)
    if args.suite_small_worker:
        return suite_small_worker(args.out)
    if args.evidently_big:
        return evidently_big_worker(args.out, args.evidently_big, args.arrays)
    if args.evidently_windows:
        return evidently_windows_worker(args.out)
    args.baselines, args.windows_per_baseline = (10, 10) if args.quick else (200, 10)
    args.detection_windows, args.oracle_windows = (10, 99) if args.quick else (10, 199)
    args.evidently_baselines = 2 if args.quick else 8
    args.templated_baselines, args.templated_windows = (10, 10) if args.quick else (200, 10)
    args.large_baselines = 5 if args.quick else 100

    CACHE.mkdir(parents=True, exist_ok=True)
    directory = data_dir(args.data)
    data, vectors = load_embeddings(directory)
    domains = json.loads((directory / "domains.json").read_text())
    sys.path.insert(0, str(REPO))
    from drift_app import embeddings

    template_vectors = embeddings.encode(TEMPLATES)
    measured, spec = measure(data, vectors, domains, template_vectors, args)

    np.save(CACHE / "big_reference.npy", unit_vectors(BIG_BASELINE, 384, seed=1))
    np.save(CACHE / "big_current.npy", unit_vectors(BIG_WINDOW, 384, seed=2))
    log("timing a drift run on 50,000 x 10,000 (both targets) in a fresh process...")
    suite = run_worker(sys.executable, ["--suite-worker"], CACHE / "suite.json")

    evidently: dict = {}
    reason = "skipped (--skip-evidently)" if args.skip_evidently else ensure_bench_venv()
    if reason:
        evidently = {"skipped": reason}
    else:
        python = BENCH_VENV / "bin" / "python"
        np.save(CACHE / "windows_vectors.npy", spec["everything"])
        arrays = {"names": np.frombuffer(json.dumps(list(spec["windows"])).encode(), dtype=np.uint8)}
        for name, parts in spec["windows"].items():
            arrays[f"{name}_windows"] = np.concatenate([w for w, _ in parts])
            arrays[f"{name}_refs"] = np.concatenate([np.full(len(w), ref) for w, ref in parts])
        for ref_id, rows in enumerate(spec["refs"]):
            arrays[f"ref_{ref_id}"] = rows
        np.savez(CACHE / "windows_spec.npz", **arrays)
        log("Evidently on the first baselines' CLINC windows...")
        ev = run_worker(python, ["--evidently-windows"], CACHE / "evidently_windows.json")
        # Evidently's Report on 50,000 x 10,000 took 630 s (one run): too long to repeat in every
        # bench run. Both sides are timed on the same smaller arrays instead, each one run in a
        # fresh process: Evidently's Report (its domain classifier) and our whole check (fit,
        # calibration and the drift run, one target).
        np.save(CACHE / "small_reference.npy", unit_vectors(SMALL_BASELINE, 384, seed=3))
        np.save(CACHE / "small_current.npy", unit_vectors(SMALL_WINDOW, 384, seed=4))
        log(f"Evidently report on {SMALL_BASELINE:,} x {SMALL_WINDOW:,} (one timed run in a fresh process)...")
        ev_report = run_worker(python, ["--evidently-big", "report", "--arrays", "small"], CACHE / "evidently_report.json")
        log("our whole check on the same arrays (one timed run in a fresh process)...")
        ours_small = run_worker(sys.executable, ["--suite-small-worker"], CACHE / "suite_small.json")
        evidently = {
            "version": "0.7.23",
            "method": "model() domain classifier (SGD log-loss, 50/50 split, AUC > 0.55)",
            "windows_from_baselines": args.evidently_baselines,
            "rates": {name: {**rate_with_interval(np.r_[np.ones(r["drifted"]), np.zeros(r["windows"] - r["drifted"])])}
                      for name, r in ev.items()},
            "ours_on_the_same_windows": measured["ours_on_evidently_windows"],
            "speed_arrays": {"reference": SMALL_BASELINE, "window": SMALL_WINDOW, "dim": 384, "targets": 1},
            "report_seconds_one_target": ev_report["seconds"],
            "report_drifted": ev_report["drifted"],
            "peak_mb": ev_report["peak_mb"],
            "ours_same_arrays": ours_small,
        }

    result = {
        "bench": "drift",
        "quick": args.quick,
        "nominal_false_alarm_rate": RATE,
        "window_size": WINDOW,
        "baseline_size": BASELINE,
        "baselines": args.baselines,
        **{k: measured[k] for k in ("false_alarm", "detection", "oracle_detection", "oracle_detection_pooled",
                                    "oracle_pooled_levels", "oracle_pooled_false_alarm", "clinc_test_split_difference",
                                    "detection_ratio", "detection_ratio_pooled", "large_baseline")},
        "run_seconds": suite["run_seconds"],
        "calibration_seconds": suite["calibration_seconds"],
        "run_cpu_seconds": suite["run_cpu_seconds"],
        "calibration_cpu_seconds": suite["calibration_cpu_seconds"],
        "fit_seconds": suite["fit_seconds"],
        "speed_one_target_after_the_other": suite["sequential"],
        "speed_load_average": suite["load_average"],
        "peak_mb": suite["peak_mb"],
        "load_average": os.getloadavg()[0],
        "evidently": evidently,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
