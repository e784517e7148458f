"""A tiny run of the float32 benchmark (``python -m benchmarks.precision --smoke``): its page's
structure, its target marks and its same-computation check, not its timings."""

import re

import numpy as np
import pytest
from benchmarks import precision


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = precision.main(["--smoke", "--quiet", "--out",
                          str(tmp_path_factory.mktemp("p") / "float32.md")])
    return out.read_text(encoding="utf-8")


def _rows(page, heading):
    section = page.split(heading)[1].split("\n## ")[0]
    return [[cell.strip() for cell in line.split("|")[1:-1]]
            for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]


def test_the_page_says_how_it_was_made_and_on_which_machine(page):
    assert page.startswith("# float32 models: speed (smoke run")
    assert "Written by `python -m benchmarks.precision --smoke --quiet --out " in page
    assert "gets X as float32, as a user would pass it" in page
    assert "Load average (1 min, 5 min) before the run" in page
    assert "The machine is shared" in page
    for heading in ("## Machine", "## float32 / float64, one epoch",
                    "## Reference (NumPy) executor, for context"):
        assert heading in page


def test_every_configuration_has_a_ratio_marked_against_the_target(page):
    rows = _rows(page, "## float32 / float64, one epoch")
    assert [row[0] for row in rows] == [name for name, *_ in precision.CONFIGS]
    assert len(rows) == 12
    ratio = re.compile(r"([\d.]+) \([\d.]+–[\d.]+\)")
    for name, s64, s32, compiled, status, _, reference, _, _ in rows:
        assert float(s64.split()[0]) > 0 and float(s32.split()[0]) > 0
        value = float(ratio.fullmatch(compiled).group(1))  # rounded to 2 decimals
        if abs(value - precision.TARGET) > 0.005:  # at 0.85 the unrounded ratio decides
            assert status == ("met" if value <= precision.TARGET else "**MISSED**"), name
        assert ratio.fullmatch(reference), name
    met = sum(row[4] == "met" for row in rows)
    assert f"Met in {met} of 12 configurations." in page


def test_float32_computes_the_same_epoch_as_float64(page):
    for row in _rows(page, "## float32 / float64, one epoch"):
        assert float(row[5]) < 1e-4 and float(row[7]) < 1e-4, row
        assert float(row[8]) < 1e-5, row  # the compiled and reference float32 epochs agree


def test_the_ratio_is_of_the_medians_and_the_bracket_of_the_paired_rounds():
    result = {"seconds": {("compiled", "float64"): [1.0, 2.0, 4.0],
                          ("compiled", "float32"): [0.9, 1.0, 2.0]}}
    ratio, cell = precision.ratio_cells(result, "compiled")
    assert ratio == pytest.approx(0.5)
    assert cell == "0.50 (0.50–0.90)"


def test_capped_rows_are_extrapolated_and_starred():
    result = {"seconds": {("compiled", "float64"): [1.0, 3.0]}, "rows": {"compiled": 50}}
    assert precision._epoch(result, "compiled", "float64", 200) == "8* (4–12)"
    assert precision.rows_timed("compiled", precision.CONFIGS[4], 200_000) == 50_000
    assert precision.rows_timed("compiled", precision.CONFIGS[0], 200_000) == 200_000
    assert np.isclose(precision.TARGET, 0.85)
