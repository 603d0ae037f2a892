"""The course plan read from the chapters, and the chapter times behind the teaching page."""

import json

import pytest

from emergence import course


def notebook(path, first_cell: str, code: str = "") -> None:
    cells = [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": first_cell}]
    if code:
        cells.append({"cell_type": "code", "execution_count": None, "id": "b", "metadata": {},
                      "outputs": [], "source": code})
    path.write_text(json.dumps({"cells": cells, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}))


def test_every_chapter_has_its_plan_and_exercises():
    chapters = course.chapters()
    numbered = [c.stem[:2] for c in chapters if c.stem[0].isdigit()]
    assert numbered == [f"{i:02d}" for i in range(1, len(numbered) + 1)]
    assert chapters[-1].stem == "epilogue" and "teaching" not in [c.stem for c in chapters]
    labels = [label for c in chapters for label in c.exercises]
    assert len(labels) == len(set(labels)) and all(len(c.exercises) >= 3 for c in chapters)
    assert all(c.title and c.needs and c.objectives for c in chapters)
    assert "You will" not in " ".join(c.objectives for c in chapters)  # the paragraph, not its lead


def test_a_chapter_without_its_plan_is_named(tmp_path):
    path = tmp_path / "01_demo.ipynb"
    notebook(path, "# Demo\n\n**You will need:** nothing.\n")
    with pytest.raises(ValueError, match=r"01_demo.ipynb: no '\*\*You will be able to:\*\*'"):
        course.chapter(path)


def test_measure_runs_each_notebook_in_the_profile_and_saves_atomically(tmp_path):
    path = tmp_path / "01_demo.ipynb"
    notebook(path, "# Demo", "import os\nassert os.environ['EMERGENCE_PROFILE'] == 'quick'")
    record = course.measure([path], profile="quick")
    assert set(record["seconds"]) == {"01_demo"} and record["seconds"]["01_demo"] > 0
    out = tmp_path / "times" / "chapter_times.json"
    course.save(record, out)
    assert course.load(out) == record
    assert [p.name for p in out.parent.iterdir()] == ["chapter_times.json"]  # no temporary left
    assert course.load(tmp_path / "absent.json") is None


def test_a_missing_notebook_is_refused_before_anything_runs(tmp_path, capsys):
    with pytest.raises(SystemExit):
        course.main([str(tmp_path / "nope.ipynb"), "--out", str(tmp_path / "t.json")])
    assert "no such notebook" in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()
