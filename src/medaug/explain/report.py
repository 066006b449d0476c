"""Console tables of an explanation (rich): faithfulness per model and between models."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

from medaug.evaluate.report import fmt_p
from medaug.evaluate.scoring import fmt_interval


def print_faithfulness(console: Console, summary: pd.DataFrame, pairs: pd.DataFrame) -> None:
    """ROAD of each model's heat maps against random maps, and the paired differences."""
    if summary.empty:
        return
    table = Table(title="heat-map faithfulness: ROAD combined = (LeRF - MoRF) / 2 of p(target), "
                  "higher is more faithful; 95% CI over test patients", title_justify="left")
    for col in ("model", "images", "ROAD", "random maps", "ROAD - random", "p",
                "MoRF", "LeRF", "empty maps", "centre (row, col)"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for _, r in summary.iterrows():
        table.add_row(str(r["model"]), str(r["images"]),
                      fmt_interval(r["road_combined"], r["road_combined_low"],
                                   r["road_combined_high"]),
                      fmt_interval(r["random_combined"], r["random_combined_low"],
                                   r["random_combined_high"]),
                      fmt_interval(r["vs_random"], r["vs_random_low"], r["vs_random_high"]),
                      fmt_p(r["vs_random_p"]), f"{r['road_morf']:.3f}", f"{r['road_lerf']:.3f}",
                      str(r["empty_maps"]), f"{r['heat_row']:.2f}, {r['heat_col']:.2f}")
    console.print(table)
    if pairs.empty:
        return
    table = Table(title="paired differences a - b on the same images", title_justify="left")
    for col in ("a", "b", "score", "mean a", "mean b", "difference [95% CI]", "p"):
        table.add_column(col, justify="left" if col in ("a", "b", "score") else "right")
    for _, r in pairs.iterrows():
        table.add_row(str(r["model_a"]), str(r["model_b"]), str(r["score"]), f"{r['a']:.3f}",
                      f"{r['b']:.3f}", fmt_interval(r["difference"], r["low"], r["high"]),
                      fmt_p(r["p"]))
    console.print(table)
