"""A study folder: its file names and the columns of its tables (the contract between the
runner, which writes them, and the analysis and report, which read them only)::

    study.json              the resolved study (space, data, pretraining base, probe, storage)
    optuna.journal          Optuna's journal file store (the default; ``--storage`` elsewhere)
    trials.csv              one row per SSL trial, mirroring the store (:data:`TRIAL_COLUMNS`
                            plus one column per factor, named after it)
    references.csv          one row per reference: random-init probe and supervised baseline
                            per seed and factor levels (:data:`REFERENCE_COLUMNS` plus factors)
    runs/<key>/             a trial's pretraining run: an ordinary ``medaug pretrain`` folder
    runs/<key>/probe/       its evaluation folder (``medaug probe``: predictions.csv with the
                            SSL model and its random-init twin, metrics.csv, comparisons.csv)
    references/<key>/       a reference's evaluation folder (random-init probe or supervised)
    parts.csv               row -> body part of the cache, where the data holds several
    followup/               label-efficiency probes and Grad-CAM panels of the report
    report.html             the self-contained report; report/ holds its PNG and CSV files
"""

from __future__ import annotations

STUDY_FILE = "study.json"
JOURNAL_FILE = "optuna.journal"
TRIALS_FILE = "trials.csv"
REFERENCES_FILE = "references.csv"
RUNS_DIR = "runs"
PROBE_DIR = "probe"
REFERENCES_DIR = "references"
FOLLOWUP_DIR = "followup"
PARTS_FILE = "parts.csv"
REPORT_FILE = "report.html"
REPORT_DIR = "report"

#: Metrics of the test split with their interval columns (``<name>``, ``<name>_lo``, ``_hi``).
TEST_METRICS = ("auroc", "kappa", "sensitivity", "specificity", "balanced_accuracy")

#: Columns of trials.csv before the factor columns. ``state`` is Optuna's (COMPLETE, RUNNING,
#: WAITING, PRUNED, FAIL); ``ops`` is the combination's spec (``crop+flip``) and ``combo`` its
#: short name (op names, ``+``-joined, variants numbered); ``diff_vs_random`` is the test
#: AUROC of the trial minus its random-init twin's (same seed and backbone), paired over test
#: patients; ``gain_vs_random_mean`` is the test AUROC minus the mean of the study's
#: random-init references over all seeds at the same factor levels; ``val_logloss`` breaks
#: ties where validation AUROC saturates; ``epochs_done`` is below the planned epochs for a
#: pruned trial; ``worker`` is ``host:pid`` of the worker that ran it, ``reason`` why a
#: trial failed.
TRIAL_COLUMNS = (
    "trial", "state", "key", "method", "combo", "ops", "seed",
    "val_auroc", "val_auroc_lo", "val_auroc_hi", "val_logloss",
    *(f"test_{m}{s}" for m in TEST_METRICS for s in ("", "_lo", "_hi")),
    "random_test_auroc", "diff_vs_random", "diff_lo", "diff_hi", "diff_p",
    "gain_vs_random_mean", "epochs_done", "seconds", "device", "run", "probe", "worker",
    "reason")

#: Columns of references.csv before the factor columns: ``kind`` is ``random`` or
#: ``supervised``; the metrics are those of :data:`TRIAL_COLUMNS`.
REFERENCE_COLUMNS = (
    "kind", "key", "seed", "val_auroc", "val_auroc_lo", "val_auroc_hi", "val_logloss",
    *(f"test_{m}{s}" for m in TEST_METRICS for s in ("", "_lo", "_hi")),
    "seconds", "device", "folder", "state")
