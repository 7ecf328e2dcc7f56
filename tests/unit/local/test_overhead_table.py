"""benchmarks/local_overhead.py rewrites its tables in docs/benchmarks.md, never the prose."""

from __future__ import annotations

from pathlib import Path

from benchmarks.local_overhead import END, START, TABLES, Setup, Timing, markdown, section

HEADING = "## Local orchestration overhead\n\n"
OLD = f"# Benchmarks\n\n{START}\n{HEADING}old table\n{TABLES}\nWhy.\n{END}\nafter\n"


def test_new_tables_replace_the_old_and_keep_the_prose_after_them(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(OLD)
    text = section(doc, "new table\n")
    assert text == f"{HEADING}new table\n{TABLES}\nWhy.\n"


def test_the_table_compares_each_mode_with_the_ideal_and_the_bare_loop(tmp_path: Path) -> None:
    setup = Setup(tmp_path, trials=100, parallel=2, seconds=0.5, ray_python=tmp_path / "none")
    timings = {
        "xargs -P (bare program)": Timing(walls=[26.0, 26.5, 30.0], loads=[1.0, 1.0, 2.0]),
        "Ray Tune, Tuner.fit": Timing(missing="no ray"),
        "kubetune run": Timing(walls=[27.0], loads=[1.5], startups=[]),
    }
    rows = markdown(setup, timings).splitlines()
    assert "| ideal (N × t ÷ P) | 25.0 |" in rows[4]
    assert rows[5] == "| xargs -P (bare program) | 26.5 | +6.0% | +0.0% | 30 | 1.0 |"
    assert rows[6] == "| Ray Tune, Tuner.fit | no ray | | | | |"
    assert rows[7] == "| kubetune run | 27.0 | +8.0% | +1.9% | 40 | 1.5 |"
