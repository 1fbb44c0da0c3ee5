"""`analysis.report_page.render`: the report's text around its figures, from the tables alone."""

from __future__ import annotations

import re

from analysis.aggregate import overall_scores, seed_means
from analysis.pareto import study_fronts
from analysis.report import pareto_figure
from analysis.report_page import Section, figure_html, render, render_page, table_html
from analysis.tables import analyse


def test_the_page_says_what_the_snapshot_holds_and_what_the_caller_read(small_study):
    page = render(analyse(small_study), "s3://bucket/studies/s", "s", "2026-01-01T00:00:00+00:00",
                  [("trials", "12 TERMINATED"), ("study state", "done")])
    assert "<title>xstudy report: s</title>" in page  # the rows name the study
    assert "<td>exported at</td><td>2026-01-01T00:00:00+00:00</td>" in page
    assert "<td>trials</td><td>12 TERMINATED</td>" in page and "<td>study state</td><td>done</td>" in page
    assert "<td>model sizes</td><td>small, large</td>" in page
    titles = ["Recommendation: which intermediate task", "Pareto fronts", "Gains over the no-intermediate",
              "Does the gain grow or shrink", "Per-language gains", "Does English dev", "Data"]
    positions = [page.index(f"<h2>{t}") for t in titles]
    assert positions == sorted(positions)
    assert page.count("Plotly.newPlot(") == 3 + 1 + 1 + 3 + 1  # fronts per objective, gains, sizes, heatmaps, signal


def test_a_study_without_results_waits_and_is_named_by_its_folder(small_study):
    empty = small_study.iloc[:0]
    page = render(analyse(empty), "/studies/folder", "folder", "now", [])
    assert "<title>xstudy report: folder</title>" in page
    assert "Not enough finished results yet" in page and "No step count has results from two sizes yet" in page
    assert "<td>study state</td>" not in page  # no progress rows given: none shown


def test_the_page_is_self_contained(small_study):
    points = seed_means(overall_scores(small_study).assign(target_task="overall"))
    fig = figure_html(pareto_figure(points, study_fronts(points, objective="target_task")), "pareto-0")
    page = render_page("a <report>", "<p>summary</p>", [Section("fronts", "text & more", [fig, table_html(points.head(2))])])
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>a &lt;report&gt;</title>" in page and "text &amp; more" in page
    # plotly.js is inline, once; no script is loaded from anywhere
    assert page.count("Plotly.newPlot(") == 1
    assert re.search(r"<script[^>]*\bsrc=", page) is None
    assert "cdn.plot.ly/plotly" not in page and len(page) > 3_000_000  # characters: plotly.js is ~4.8 MB
    assert 'id="pareto-0"' in page and "toggleothers" in page
