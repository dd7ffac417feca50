"""projects/common/learning_curve.py: the tables and chart the READMEs' learning curves come from."""
import json

import pytest

from tests.helpers import ROOT, load_script

SCRIPT = ROOT / "projects" / "common" / "learning_curve.py"


@pytest.fixture(scope="module")
def curve():
    return load_script(SCRIPT)


def _run(root, size, model, seed, dev, test=None, finished=True):
    run = root / "training" / size / model / f"seed{seed}"
    (run / "model-best").mkdir(parents=True)
    (run / "model-best" / "meta.json").write_text(json.dumps({"performance": {"ents_f": dev}}))
    if finished:
        (run / "train_time.json").write_text("{}")
    if test is not None:
        out = root / "metrics" / size / model / f"seed{seed}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"ents_f": test}))


def test_collect_reads_finished_seeds_only_and_orders_sizes(curve, tmp_path):
    _run(tmp_path, "300", "elmo", 1, 0.80, 0.70)
    _run(tmp_path, "300", "elmo", 2, 0.82, 0.74)
    _run(tmp_path, "300", "elmo", 3, 0.99, 0.99, finished=False)  # still training: never counted
    _run(tmp_path, "100", "base", 1, 0.60)  # not evaluated on test
    recorded = tmp_path / "rec.json"
    recorded.write_text(json.dumps({"all": {"base": {"test": {"mean": 81.2, "sd": 0.6, "n": 3}, "note": "old"}}}))
    table = curve.collect(tmp_path / "training", tmp_path / "metrics", "ents_f", "ents_f", recorded)
    assert list(table) == ["100", "300", "all"]
    assert table["300"]["elmo"]["dev"] == [0.80, 0.82] and table["300"]["elmo"]["test"] == [0.70, 0.74]
    assert table["100"]["base"]["test"] == []
    assert curve.mean_sd(table["300"]["elmo"]["test"]) == "72.00 ± 2.83 (n=2)"
    assert curve.mean_sd(table["100"]["base"]["test"]) == "–"
    assert curve.mean_sd(table["all"]["base"]["test"]) == "81.20 ± 0.60 (n=3)"
    assert curve.mean_sd({"mean": 88.1, "n": 3}) == "88.10 (n=3, sd not kept)"


def test_main_writes_table_and_chart(curve, tmp_path):
    pytest.importorskip("matplotlib")
    _run(tmp_path, "100", "base", 1, 0.60, 0.55)
    _run(tmp_path, "100", "elmo", 1, 0.65, 0.61)
    out, png = tmp_path / "curve.md", tmp_path / "curve.png"
    curve.main(tmp_path / "training", tmp_path / "metrics", out, png, ["elmo=ELMo", "base=Baseline"],
               "ents_f", "ents_f", "dev F1", "test F1", "docs", "T", None, "")
    text = out.read_text()
    assert text.index("| ELMo |") < text.index("| Baseline |")  # the --model order
    assert "| ELMo | 65.00 (n=1) | 61.00 (n=1) |" in text
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


def test_dev_curves_average_finished_seeds_from_console_logs(tmp_path, monkeypatch, capsys):
    dev_curves = load_script(ROOT / "projects" / "common" / "dev_curves.py")
    monkeypatch.chdir(tmp_path)
    for seed in (1, 2):
        (tmp_path / "out" / f"seed{seed}").mkdir(parents=True)
        (tmp_path / "out" / f"seed{seed}" / "train_time.json").write_text("{}")
    log = tmp_path / "run.log"
    log.write_text(
        "[train_seeds] spacy train c.cfg --output out/seed1 --gpu-id -1\n"
        "  0     100     1.00    2.00   60.00   61.00   59.00    0.60\n"
        "  1     200     1.00    2.00   70.00   71.00   69.00    0.70\n"
        "[train_seeds] spacy train c.cfg --output out/seed2 --gpu-id -1\n"
        "  0     100     1.00    2.00   64.00   61.00   59.00    0.64\n"
        "  1     200     1.00    2.00   72.00   71.00   69.00    0.72\n"
        "[train_seeds] spacy train c.cfg --output out/seed3 --gpu-id -1\n"  # killed: no train_time.json
        "  0     100     1.00    2.00   99.00   61.00   59.00    0.99\n"
    )
    dev_curves.main([log], ["out"], 4)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| model (seeds) | 100 | 200 |"
    assert lines[2] == "| out (2) | 62.0 | 71.0 |"
