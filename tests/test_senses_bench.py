"""benchmarks/senses.py: the Senseval reader, 1-NN with its tie rule, the folds, the baselines, the "bank"
check, and a tiny real run on the packaged model (30 instances per corpus)."""
import json
from pathlib import Path

import numpy
import pytest

from tests.helpers import DATA, load_script, needs_shared

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "senses.py"
SENSEVAL = DATA / "senseval"


@pytest.fixture(scope="module")
def bench():
    return load_script(PATH)


SNIPPET = """<corpus lang="en">
<lexelt item="line-n">
<instance id="a:1">
<answer instance="a:1" senseid="cord"/>
<answer instance="a:1" senseid="text"/>
<context>
 <wf pos="DT">the</wf> <wf pos='"'>"</wf> <wf pos="NNP">at&amp;t</wf> <head> <wf pos="NN">line</wf></head> ps FRASL 2 <wf pos=".">.</wf>
 <wf pos="PRP">it</wf> <wf pos="VBD">broke</wf> <wf pos=".">.</wf>
</context>
</instance>
<instance id="a:2">
<answer instance="a:2" senseid="phone"/>
<context> <wf pos="DT">no</wf> <wf pos="NN">head</wf> </context>
</instance>
<instance id="a:3">
<context> <head><wf pos="NNS">lines</wf></head> </context>
</instance>
<instance id="a:4">
<answer instance="a:4" senseid="product"/>
<context>
<head><wf pos="NNS">lines</wf></head> <wf pos="VBD">sold</wf>
</context>
</instance>
</lexelt>
</corpus>
"""


def test_the_reader_keeps_the_tokens_marks_the_head_and_reports_what_it_skips(bench):
    instances, skipped = bench.parse_senseval(SNIPPET)
    assert [i.id for i in instances] == ["a:1", "a:4"]
    first = instances[0]
    assert first.words == ["the", '"', "at&t", "line", "ps", "/", "2", ".", "it", "broke", "."]
    assert (first.head, first.form) == (3, "line")
    assert (first.sense, first.n_answers) == ("cord", 2)  # several answers: the first one
    assert (instances[1].head, instances[1].form, instances[1].sense) == (0, "lines", "product")
    assert skipped == [("a:2", "0 <head> elements"), ("a:3", "no <answer senseid=...>")]


def test_nearest_neighbour_by_cosine_and_its_tie_rule(bench):
    train = numpy.array([[1.0, 0.1], [0.1, 1.0], [5.0, 0.0]])  # labels 0, 1, 0
    labels = numpy.array([0, 1, 0])
    test = numpy.array([[0.2, 3.0], [10.0, 0.9], [3.0, 0.0]])
    assert bench.nearest_neighbour(train, labels, test, 2).tolist() == [1, 0, 0]  # cosine, not distance
    # Exact ties: the majority label among the tied neighbours (1), although 0 is listed first and is
    # the most frequent label in training.
    same = numpy.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 3)
    assert bench.nearest_neighbour(same, numpy.array([0, 1, 1, 0, 0, 0]), numpy.array([[2.0, 0.0]]), 3).tolist() == [1]
    # An even split among the tied goes to the label more frequent in training (2: 2 of 4 vs 1: 1 of 4),
    # and with equal frequencies to the lower label.
    assert bench.nearest_neighbour(same[[0, 1, 4, 5]], numpy.array([1, 2, 2, 0]), numpy.array([[1.0, 0.0]]), 3).tolist() == [2]
    assert bench.nearest_neighbour(same[:2], numpy.array([2, 1]), numpy.array([[1.0, 0.0]]), 3).tolist() == [1]


def test_cross_validated_1nn_on_separable_and_on_shuffled_senses(bench):
    rng = numpy.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 5
    labels = numpy.repeat(["a", "b", "c"], [40, 30, 20])
    vectors = centres[numpy.searchsorted(["a", "b", "c"], labels)] + rng.normal(size=(90, 16))
    folds = bench.stratified_folds(labels, 5, seed=0)
    assert bench.cross_validate_1nn(vectors, labels, folds) == [1.0] * 5
    noise = rng.normal(size=(90, 16))  # no signal: about chance, well below the separable case
    assert numpy.mean(bench.cross_validate_1nn(noise, labels, folds)) < 0.6


def test_folds_are_stratified_even_and_seeded(bench):
    labels = numpy.repeat(["x", "y", "z"], [23, 11, 6])
    folds = bench.stratified_folds(labels, 5, seed=3)
    assert sorted(numpy.bincount(folds).tolist()) == [8, 8, 8, 8, 8]
    for label, n in (("x", 23), ("y", 11), ("z", 6)):
        per_fold = numpy.bincount(folds[labels == label], minlength=5)
        assert per_fold.max() - per_fold.min() <= 1 and per_fold.sum() == n
    assert (folds == bench.stratified_folds(labels, 5, seed=3)).all()
    assert (folds != bench.stratified_folds(labels, 5, seed=4)).any()


def test_majority_baselines_overall_and_per_word_form(bench):
    labels = ["a"] * 6 + ["b"] * 4
    forms = ["line"] * 6 + ["lines"] * 4  # the form decides the sense here
    folds = numpy.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    assert bench.majority_baseline(labels, folds) == [0.6, 0.6]
    assert bench.majority_baseline(labels, folds, forms) == [1.0, 1.0]
    # A form never seen in the training folds gets the overall majority (fold 1: "z" gets b, 3 of 5);
    # in fold 0, "y" is unseen and the training folds' a:b is 1:1, which goes to the first name, a.
    labels, forms = list("aabbbba"), list("xxyyyzx")
    assert bench.majority_baseline(labels, numpy.array([0, 0, 0, 0, 0, 1, 1]), forms) == [0.4, 1.0]


def test_sense_separation_counts_pairs_and_triples(bench):
    vectors = numpy.array([[1.0, 0.0], [1.0, 0.2], [0.0, 1.0], [0.3, 1.0]])
    got = bench.sense_separation(vectors, ["r", "r", "f", "f"])
    assert got["n_triples"] == 8  # 4 anchors x 1 same-sense other x 2 cross-sense others
    assert got["triples_same_closer"] == 1.0 and got["same_sense_mean"] > got["cross_sense_mean"]
    swapped = bench.sense_separation(vectors, ["r", "f", "r", "f"])
    assert swapped["triples_same_closer"] < 0.5 and swapped["same_sense_mean"] < swapped["cross_sense_mean"]


@needs_shared(SENSEVAL)
def test_the_corpora_parse_whole(bench):
    expected = (("line", 4146, 6, {"line", "lines", "lined"}), ("serve", 4378, 4, {"serve", "served", "serves", "serving"}))
    for name, n, senses, forms in expected:
        instances, skipped = bench.read_corpus(name, SENSEVAL)
        assert (len(instances), skipped, len({i.sense for i in instances})) == (n, [], senses)
        assert {i.form for i in instances} == forms  # the head is always the target word
        assert not any("FRASL" in w or "&amp;" in w for i in instances for w in i.words)


@pytest.fixture(scope="module")
def tiny_run(bench):
    nlp = bench.make_nlp("en_elmo_small")
    return nlp, bench.run(nlp, limit=30, progress=False)


@needs_shared(SENSEVAL)
def test_a_tiny_real_run_layer_0_is_context_free_and_finds_the_forms_majority(bench, tiny_run):
    nlp, result = tiny_run
    assert result["representations"] == ["0", "1", "2", "mix", "1+2"]
    for corpus in ("line", "serve"):
        scores = result["scores"][corpus]
        assert result["corpora"][corpus]["instances"] == 30
        # Layer 0 gives every use of a form the same vector, so with the tie rule it is the per-form majority.
        assert scores["0"]["folds"] == scores["form_majority"]["folds"]
        assert all(0.0 <= scores[name]["mean"] <= 1.0 for name in result["representations"])
    instances, _ = bench.read_corpus("serve", SENSEVAL, limit=30)
    vectors = bench.target_vectors(nlp, instances, progress=False)
    forms = numpy.array([i.form for i in instances])
    first, second = numpy.flatnonzero(forms == "serve")[:2]
    numpy.testing.assert_allclose(vectors["0"][first], vectors["0"][second], atol=1e-5)
    assert not numpy.allclose(vectors["2"][first], vectors["2"][second], atol=1e-3)  # the LSTM layers see context
    numpy.testing.assert_allclose(vectors["mix"], (vectors["0"] + vectors["1"] + vectors["2"]) / 3, atol=1e-5)
    numpy.testing.assert_allclose(vectors["1+2"], numpy.concatenate([vectors["1"], vectors["2"]], axis=1))


@needs_shared(SENSEVAL)
def test_the_bank_check_matches_the_similarity_command(bench, tiny_run, cli):
    _, result = tiny_run
    sentences = [text for _, text in bench.README_BANK]
    table = cli("similarity", "bank", *sentences, "--model", "en_elmo_small")
    assert table.exit_code == 0, table.stderr
    rows = [line.split()[-3:] for line in table.stdout.splitlines() if line[:2].strip() in {"1", "2", "3"}]
    readme = result["bank"]["readme"]["mix"]
    assert float(rows[0][1]) == pytest.approx(readme["river_river"], abs=6e-4)
    assert [float(rows[0][2]), float(rows[1][2])] == pytest.approx(readme["river_finance"], abs=6e-4)
    assert readme["river_river_closest"] == (readme["river_river"] > max(readme["river_finance"]))
    assert result["bank"]["bank_senses_csv"]["mix"]["n_triples"] == 16 * 7 * 8


@needs_shared(SENSEVAL)
def test_the_command_takes_the_clis_weights_and_writes_json(bench, tiny_model, tmp_path, capsys):
    out = tmp_path / "senses.json"
    bench.main(["--model", str(tiny_model), "--limit", "12", "--folds", "2", "--no-bank", "--output", str(out)])
    saved = json.loads(out.read_text())
    assert saved["corpora"]["serve"]["instances"] == 12 and len(saved["scores"]["line"]["mix"]["folds"]) == 2
    assert saved["settings"]["model"] == str(tiny_model) and "bank" not in saved
    assert "1-NN sense accuracy" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--weights"):
        bench.main(["--options", str(tiny_model / "options.json")])
