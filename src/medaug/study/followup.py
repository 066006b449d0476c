"""The report's follow-ups, computed once the grid is done: label-efficiency probes of each
method's best and worst combination (chosen on validation) beside their random-init twin,
and Grad-CAM panels of the two through ``medaug explain`` (the saved probes of the trial's
evaluation folder). Everything goes to ``followup/`` in the study folder; a finished
follow-up is reused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from medaug.atomic import write_table
from medaug.data.open import open_dataset
from medaug.errors import MedaugError
from medaug.evaluate.linear_eval import run_probe
from medaug.evaluate.probe_config import ProbeConfig
from medaug.explain.config import ExplainConfig
from medaug.explain.run import run_explain
from medaug.study.analysis import load_study_tables, rank_groups
from medaug.study.config import StudyConfig
from medaug.study.factors import apply_levels, data_levels
from medaug.study.layout import FOLLOWUP_DIR

#: Label fractions of the label-efficiency curves below 1 (fraction 1 is the trial's own probe,
#: read from its evaluation folder rather than fitted again).
FRACTIONS = (0.01, 0.1)
CURVES_FILE = "label_efficiency.csv"


def chosen_runs(folder: Path) -> list[tuple[str, str, pd.Series]]:
    """``(method, role, trial row)`` of each method's best and worst group on validation (its
    first seed's trial)."""
    tables = load_study_tables(folder)
    ranking = rank_groups(tables)
    done = tables.complete
    out = []
    for method, g in ranking.table.groupby("method", sort=True):
        g = g.sort_values("rank")
        picks = [("best", g.iloc[0])] + ([("worst", g.iloc[-1])] if len(g) > 1 else [])
        for role, group in picks:
            mask = (done["method"] == method) & (done["combo"] == group["combo"])
            for f in tables.factors:
                mask &= done[f].astype(str) == str(group[f])
            rows = done[mask].sort_values("seed")
            if not rows.empty:
                out.append((str(method), role, rows.iloc[0]))
    return out


def run_followup(folder: Path, config: StudyConfig,
                 say: Callable[[str], None] | None = print,
                 fractions: tuple[float, ...] = FRACTIONS) -> Path:
    """Write ``followup/label_efficiency.csv`` and ``followup/gradcam/<method>-<role>.png``;
    a step that cannot run (too few labels for a fraction) is skipped with a message."""
    folder = Path(folder)
    out = folder / FOLLOWUP_DIR
    rows = []
    caches: dict[tuple, object] = {}
    for method, role, trial in chosen_runs(folder):
        levels = {f: str(trial[f]) for f in load_study_tables(folder).factors}
        data, _ = apply_levels(config.data, config.pretrain, data_levels(levels))
        key = tuple(sorted(data_levels(levels).items()))
        if key not in caches:
            caches[key] = open_dataset(data)
        cache = caches[key]
        run = folder / str(trial["run"])
        name = f"{method}-{role}"
        probe_dir = out / "label" / name
        try:
            result = run_probe(data, [str(run)], ProbeConfig(
                fractions=fractions, seeds=3, probes=("logistic",),
                bootstrap=config.options.bootstrap), probe_dir, say=None, cache=cache)
        except (MedaugError, ValueError) as exc:  # e.g. a fraction without both classes
            if say is not None:
                say(f"label-efficiency of {name} skipped: {exc}")
            continue
        from medaug.evaluate.record import METRICS_FILE

        full = pd.read_csv(run / "probe" / METRICS_FILE)
        full = full[(full["probe"] == "logistic") & ((full["fraction"] - 1.0).abs() < 1e-9)]
        m = pd.concat([result.metrics, full], ignore_index=True)
        m = m[(m["level"] == "image") & (m["metric"] == "auroc")]
        for (model, fraction), g in m.groupby(["model", "fraction"]):
            rows.append({"method": method, "combo": trial["combo"],
                         "role": role if model == run.name else "random", "model": model,
                         "fraction": fraction, "subsets": len(g),
                         "test_auroc": g["value"].mean(), "test_auroc_lo": g["ci_low"].mean(),
                         "test_auroc_hi": g["ci_high"].mean()})
        panel = out / "gradcam" / f"{name}.png"
        if not panel.is_file():
            try:
                explained = run_explain(data, [str(run), f"random:{config.pretrain.backbone}@"
                                        f"{int(trial['seed'])}"],
                                        ExplainConfig(images=6, layer="layer2",
                                                      faithfulness_images=16,
                                                      probe=str(run / "probe")),
                                        out / "explain" / name, say=None, cache=cache)
                panel.parent.mkdir(parents=True, exist_ok=True)
                panel.write_bytes(explained.panel.read_bytes())
            except (MedaugError, ValueError) as exc:
                if say is not None:
                    say(f"Grad-CAM of {name} skipped: {exc}")
        if say is not None:
            say(f"follow-up of {name} ({trial['combo']}) done")
    frame = pd.DataFrame(rows)
    if not frame.empty:
        # the random twin appears under both roles of a method when they share a seed
        frame = frame.drop_duplicates(["method", "model", "fraction", "role"])
        write_table(out / CURVES_FILE, frame)
    return out
