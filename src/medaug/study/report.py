"""The study's self-contained HTML report: ``<folder>/report.html`` (figures inlined as base64
data URIs, inline CSS, nothing fetched, no JavaScript) and ``<folder>/report/`` with every
figure as PNG and every table as CSV. Reads the study folder only (:mod:`medaug.study.layout`).

Order: the answer per method first, then the ranking, op x op heat maps, op main effects,
factor effects, the original study's claims, validation-vs-test agreement, follow-ups
(label efficiency, Grad-CAM), body parts, compute, and the study's settings.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from medaug.atomic import atomic_write, write_table
from medaug.errors import DataError
from medaug.study import figures
from medaug.study.analysis import (
    Ranking,
    StudyTables,
    compute_summary,
    gain_vs_random_distribution,
    load_study_tables,
    per_part,
    pooled_paired_gain,
    random_reference_band,
    rank_agreement,
    rank_groups,
)
from medaug.study.effects import (
    augmentation_sensitivity,
    factor_effects,
    op_main_effects,
    op_matrix,
)
from medaug.study.layout import FOLLOWUP_DIR, REPORT_DIR, REPORT_FILE, STUDY_FILE

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1250px;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th{background:#f2f2f2}img{max-width:100%;display:block;margin:.5em 0}
.wide{overflow-x:auto}.answer li{margin:.4em 0}.note{color:#666;font-style:italic}
pre{background:#f7f7f7;padding:.4em}
"""


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _fmt(x: float, digits: int = 3) -> str:
    return "nan" if _missing(x) else f"{x:.{digits}f}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def random_band_text(mean: float, sd: float, n: int) -> str:
    """``random init 0.755 ± 0.021, 3 runs``; one run has no spread, and says so."""
    if n < 2 or _missing(sd):
        return f"random init {_fmt(mean)}, {_count(n, 'run')}: no spread"
    return f"random init {_fmt(mean)} ± {_fmt(sd)}, {n} runs"


def _ci(value: float, lo: float, hi: float) -> str:
    return f"{_fmt(value)} [{_fmt(lo)}, {_fmt(hi)}]"


class _Report:
    """Collects the report's HTML parts, PNGs and CSVs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.out = folder / REPORT_DIR
        self.parts: list[str] = []

    def h2(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def p(self, text: str, note: bool = False) -> None:
        cls = ' class="note"' if note else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def table(self, frame: pd.DataFrame, name: str, caption: str = "") -> None:
        write_table(self.out / f"{name}.csv", frame)
        if caption:
            self.parts.append(f"<p><b>{html.escape(caption)}</b> "
                              f"<span class=\"note\">({html.escape(name)}.csv)</span></p>")
        body = frame.to_html(index=False, escape=True, na_rep="–",
                             float_format=lambda x: f"{x:.3f}", border=0)
        self.parts.append(f'<div class="wide">{body}</div>')

    def image(self, path: Path, alt: str) -> None:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        self.parts.append(f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">')

    def figure(self, draw: Callable[[Path], Path], name: str, alt: str) -> None:
        self.image(draw(self.out / f"{name}.png"), alt)


def _label(row: pd.Series, tables: StudyTables) -> str:
    levels = ", ".join(f"{f}={row[f]}" for f in tables.factors)
    return f"{row['combo']} ({levels})" if levels else str(row["combo"])


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(text))


def _add_paired_gains(tables: StudyTables, ranking: Ranking, n_boot: int) -> pd.DataFrame:
    """The ranking table with ``paired_gain, paired_lo, paired_hi, paired_source``: the
    predictions' pooled bootstrap when every trial's predictions are there, else the pooled
    normal interval of the per-seed intervals in trials.csv."""
    table = ranking.table.copy()
    done = tables.complete
    gains, los, his, sources = [], [], [], []
    for _, row in table.iterrows():
        mask = pd.Series(True, index=done.index)
        for k in tables.group_keys:
            mask &= done[k].astype(str) == str(row[k])
        try:
            g = pooled_paired_gain(tables.folder, done[mask], n_boot=n_boot)
            gains.append(g.gain)
            los.append(g.low)
            his.append(g.high)
            sources.append("patient bootstrap")
        except (DataError, KeyError, ValueError):
            gains.append(row.get("diff_vs_random", float("nan")))
            los.append(row.get("diff_lo", float("nan")))
            his.append(row.get("diff_hi", float("nan")))
            sources.append("per-seed intervals")
    return table.assign(paired_gain=gains, paired_lo=los, paired_hi=his, paired_source=sources)


def _answer(r: _Report, tables: StudyTables, ranking: Ranking, table: pd.DataFrame) -> None:
    r.h2("1. The answer")
    if table.empty:
        r.p("No COMPLETE trial yet: nothing to recommend.")
        return
    items = []
    for method, g in table.groupby("method", sort=True):
        best = g[g["rank"] == 1].iloc[0]
        crit = ranking.criteria[str(method)]
        how = ("lowest mean validation log-loss (validation AUROC saturated)"
               if crit == "val_logloss" else "highest mean validation AUROC")
        dist = gain_vs_random_distribution(tables, best)
        sup, _, n_sup = random_reference_band(tables, {f: best[f] for f in tables.factors},
                                              kind="supervised")
        sup_text = (f"the supervised reference reaches test AUROC {_fmt(sup)} (mean of "
                    f"{_count(n_sup, 'seed')})" if n_sup else "no supervised reference")
        beat = bool((g["paired_lo"] > 0).any())
        pick = (f"recommended combination {_label(best, tables)}, chosen on validation by {how}; "
                f"pooled paired gain over random init on test "
                f"{_ci(best['paired_gain'], best['paired_lo'], best['paired_hi'])} (95% CI, "
                f"{best['paired_source']}, {_count(int(best['seeds']), 'seed')}); against the "
                f"random-init distribution {_fmt(dist['gain'])} ("
                f"{random_band_text(dist['random_mean'], dist['random_sd'], int(dist['random_n']))}"
                f"); {sup_text}.")
        if not beat:
            pick = ("no combination beat random init (no group's pooled paired 95% interval "
                    f"lies above 0); the validation pick would be: {pick}")
        items.append(f"<li><b>{html.escape(str(method))}</b>: {html.escape(pick)}</li>")
    r.parts.append(f'<ul class="answer">{"".join(items)}</ul>')


def _ranking(r: _Report, tables: StudyTables, table: pd.DataFrame) -> None:
    r.h2("2. Ranking per method (chosen on validation)")
    if table.empty:
        r.p("No COMPLETE trial: no ranking.", note=True)
        return
    r.p("Means over seeds; intervals of test metrics are the means of the per-seed 95% "
        "intervals; paired_gain is the pooled paired gain over random init on test with its "
        "95% interval (paired_source says how it was computed).", note=True)
    cols = ["rank", *tables.group_keys, "seeds", "criterion", "val_auroc", "val_logloss",
            "test_auroc", "test_auroc_lo", "test_auroc_hi", "test_kappa", "test_sensitivity",
            "test_specificity", "paired_gain", "paired_lo", "paired_hi", "paired_source"]
    for method, g in table.groupby("method", sort=True):
        g = g.sort_values("rank")
        r.table(g[[c for c in cols if c in g]], f"ranking_{_slug(method)}", f"{method}")
        band = random_reference_band(tables)[:2]
        shown = g.assign(label=[_label(row, tables) for _, row in g.iterrows()])
        r.figure(lambda p, s=shown, m=method, b=band: figures.ranking_plot(
            s, b, f"{m}: test AUROC by validation rank", p), f"ranking_{_slug(method)}",
            f"ranking of {method}")


def _heatmaps(r: _Report, tables: StudyTables) -> None:
    r.h2("3. Op × op heat maps (mean test AUROC)")
    shown = 0
    for method in sorted(tables.complete["method"].unique()):
        m = op_matrix(tables, method)
        if m.empty or not m.notna().to_numpy().any():
            continue
        r.table(m.reset_index(names="op"), f"op_matrix_{_slug(method)}", f"{method}")
        r.figure(lambda p, mm=m, me=method: figures.heatmap(mm, f"{me}: test AUROC", p),
                 f"heatmap_{_slug(method)}", f"op x op heat map of {method}")
        shown += 1
    if not shown:
        r.p("No combination of one or two ops ran: no heat map.", note=True)


def _effects(r: _Report, tables: StudyTables) -> pd.DataFrame:
    r.h2("4. Op main effects")
    ops = op_main_effects(tables)
    if ops.empty:
        r.p("No op in any combination: no main effects.", note=True)
    else:
        r.p("Per block (seed, factor levels): mean AUROC of combos with the op minus those "
            "without; t-interval over blocks (NaN with fewer than 2).", note=True)
        r.table(ops, "op_main_effects")
        test = ops[ops["metric"] == "test"].assign(label=lambda f: f["method"] + ": " + f["term"])
        r.figure(lambda p: figures.forest(test, "op main effects on test AUROC", p, "label"),
                 "op_main_effects", "op main effects forest plot")
    r.h2("5. Factor effects")
    fac = factor_effects(tables)
    if fac.empty:
        r.p("No factor with two or more levels among the COMPLETE trials.", note=True)
        return fac
    r.p("Level minus reference level, pairs matched on method, combo, seed and the other "
        "factors; t-interval over pairs; method 'all' pools the methods.", note=True)
    r.table(fac, "factor_effects")
    shown = fac.assign(label=lambda f: f["method"] + ": " + f["term"])
    r.figure(lambda p: figures.forest(shown, "factor effects on test AUROC", p, "label"),
             "factor_effects", "factor effects forest plot")
    return fac


def _claims(r: _Report, tables: StudyTables, fac: pd.DataFrame | None) -> None:
    r.h2("6. The original study's claims tested")
    r.p("Claim: SimCLR is augmentation-sensitive, BYOL robust. Spread = sd over combos of the "
        "mean test AUROC; the difference of spreads has a bootstrap interval resampling the "
        "combos both methods ran (paired).", note=True)
    spreads, diffs = augmentation_sensitivity(tables)
    r.table(spreads, "sensitivity_spreads", "spread per method")
    if diffs.empty:
        r.p("Only one method in the study: no difference of spreads.", note=True)
    else:
        r.table(diffs, "sensitivity_differences", "spread(a) - spread(b)")
    if "imbalance" in tables.factors:
        imb = fac[fac["factor"] == "imbalance"] if fac is not None and not fac.empty else None
        if imb is None or imb.empty:
            r.p("The imbalance factor has one level only among the COMPLETE trials.", note=True)
        else:
            r.table(imb, "imbalance_effect", "class imbalance effect")
    else:
        r.p("No imbalance factor in this study.", note=True)


def _followups(r: _Report, tables: StudyTables) -> None:
    r.h2("8. Follow-ups: label efficiency and Grad-CAM")
    follow = tables.folder / FOLLOWUP_DIR
    curves = follow / "label_efficiency.csv"
    if curves.is_file():
        c = pd.read_csv(curves)
        r.table(c, "label_efficiency")
        r.figure(lambda p: figures.label_efficiency(c, p), "label_efficiency",
                 "label-efficiency curves")
    else:
        r.p("No label-efficiency follow-up (followup/label_efficiency.csv).", note=True)
    panels = sorted((follow / "gradcam").glob("*.png"))
    if not panels:
        r.p("No Grad-CAM panels (followup/gradcam/*.png).", note=True)
    for panel in panels:
        r.p(panel.stem)
        r.image(panel, f"Grad-CAM {panel.stem}")


def _parts(r: _Report, tables: StudyTables, ranking: Ranking) -> None:
    r.h2("9. Per body part")
    try:
        result = per_part(tables, ranking)
    except (DataError, KeyError, ValueError) as e:
        r.p(f"Per-part results unavailable: {e}", note=True)
        return
    if result is None:
        r.p("One body part only (or no parts.csv): no per-part results.", note=True)
        return
    table, best = result
    r.table(best, "parts_recommended", "recommended combination per part (on validation)")
    r.table(table, "parts_auroc", "AUROC per group and part (mean over seeds)")


def _compute(r: _Report, tables: StudyTables) -> None:
    r.h2("10. Compute")
    summary = compute_summary(tables)
    r.table(summary, "compute", "seconds per run")
    r.figure(lambda p: figures.compute_plot(summary, p), "compute", "compute per trial")
    path = tables.folder / "search.json"
    if not path.is_file():
        r.p("No search.json: no grid-versus-search comparison.", note=True)
        return
    s = json.loads(path.read_text())
    grid, search = float(s.get("grid_seconds", math.nan)), float(s.get("search_seconds", math.nan))
    saving = 1 - search / grid if grid else math.nan
    text = (f"The search took {_fmt(search, 0)} s against the grid's {_fmt(grid, 0)} s (saving "
            f"{_fmt(100 * saving, 1)}%)")
    if s.get("share_of_grid_epochs") is not None:
        text += (f" and {s.get('search_epochs')} pretraining epochs against "
                 f"{s.get('grid_epochs')} ({_fmt(100 * float(s['share_of_grid_epochs']), 1)}% "
                 f"of the grid's)")
    r.p(text + ".")
    for m in s.get("methods") or []:
        if m.get("same"):
            verdict = "is the grid's best"
        else:
            verdict = (f"{'is statistically tied with' if m.get('tied') else 'falls short of'}"
                       f" the grid's best ({m.get('grid_best')}): paired val AUROC difference "
                       f"{_fmt(float(m.get('difference', math.nan)))} "
                       f"[{_fmt(float(m.get('low', math.nan)))}, "
                       f"{_fmt(float(m.get('high', math.nan)))}] on the grid's runs")
        r.p(f"{m.get('method')}: the search's best, {m.get('search_best')}, {verdict}.")
    if not s.get("methods"):
        tied = "tied with" if s.get("tied") else "did not tie"
        r.p(f"Its best ({s.get('search_best')}) {tied} the grid's best ({s.get('grid_best')}), "
            f"p = {_fmt(float(s.get('tie_p', math.nan)))}.")
    if s.get("methods"):
        write_table(r.out / "search_methods.csv", pd.DataFrame(s["methods"]))
    s = {k: v for k, v in s.items() if k not in ("methods", "notes")}
    write_table(r.out / "search.csv", pd.DataFrame([s]))


def _settings(r: _Report, tables: StudyTables) -> None:
    r.h2("Settings and trials")
    r.table(tables.state_counts, "trial_states", "trials by state")
    path = tables.folder / STUDY_FILE
    if not path.is_file():
        r.p("No study.json in the folder.", note=True)
        return
    study = json.loads(path.read_text())
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td style=\"text-align:left\"><pre>"
                   f"{html.escape(json.dumps(v, indent=1, default=str))}</pre></td></tr>"
                   for k, v in study.items())
    r.parts.append(f"<table>{rows}</table>")


def write_report(folder: Path, n_boot: int = 1000) -> Path:
    """Write ``<folder>/report.html`` and ``<folder>/report/*.png|csv``; returns the HTML path.
    ``n_boot``: replicates of the patient bootstrap of the pooled paired gains."""
    folder = Path(folder)
    tables = load_study_tables(folder)
    r = _Report(folder)
    ranking = rank_groups(tables)
    table = _add_paired_gains(tables, ranking, n_boot) if not ranking.table.empty \
        else ranking.table
    _answer(r, tables, ranking, table)
    _ranking(r, tables, table)
    _heatmaps(r, tables)
    fac = _effects(r, tables)
    _claims(r, tables, fac)
    r.h2("7. Validation vs test rank agreement")
    if table.empty:
        r.p("No COMPLETE trial.", note=True)
    else:
        r.p("Spearman correlation of mean val and mean test AUROC over groups; bootstrap "
            "interval resampling groups (NaN with fewer than 3).", note=True)
        r.table(rank_agreement(ranking), "rank_agreement")
        r.figure(lambda p: figures.val_test_scatter(table, p), "val_vs_test", "val vs test")
    _followups(r, tables)
    _parts(r, tables, ranking)
    _compute(r, tables)
    _settings(r, tables)
    title = html.escape(f"medaug study: {folder.name}")
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}"
            f"</title><style>{_CSS}</style></head><body><h1>{title}</h1>"
            f"{''.join(r.parts)}</body></html>\n")
    return atomic_write(folder / REPORT_FILE, page)
