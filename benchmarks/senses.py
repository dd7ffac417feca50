"""Word senses (issue 19): does a model's vector of a word tell its senses apart?

Two sense-tagged corpora from the Senseval data distributed with NLTK, in ``../shared/data/senseval``:
"line" (noun, 6 senses, 4,146 instances) and "serve" (verb, 4 senses, 4,378 instances). Each instance is
a lowercased, tokenised context of one to a few sentences with the target word marked. For every model the
CLI accepts (``--model``, or ``--options`` + ``--weights``) this scores

- 1-nearest-neighbour sense accuracy by cosine of the target's vector, 5-fold cross-validated (folds
  stratified by sense, fixed seed), for every output layer (0 = the context-free character layer), the
  component's mix (``token._.elmo``) and the concatenation of the LSTM layers;
- beside the majority sense of the training folds, and the majority sense of the target's word form
  ("line" vs "lines"), which is the best a context-free vector can do: layer 0 gives every instance of
  one form the same vector, so its neighbours tie (ties: see :func:`nearest_neighbour`).

The vectors are what a user gets: each context becomes ``Doc(nlp.vocab, words=...)`` with the corpus's own
tokens, run through ``spacy.blank("en")`` + the ``elmo`` component, which embeds it one sentence at a time
(its rule-based sentencizer splits the context; the biLM never sees the other sentences).

``--bank`` (on by default) adds the "bank" check: the README's three sentences and ``examples/bank_senses.csv``,
are same-sense uses of "bank" closer than cross-sense ones?

    python benchmarks/senses.py --model en_elmo_small --output benchmarks/results/senses_en_elmo_small.json
"""

import argparse
import csv
import functools
import html
import json
import os
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy

ROOT = Path(__file__).resolve().parents[1]
SENSEVAL = Path(os.environ.get("SPACY_ELMO_SHARED", ROOT.parent / "shared")) / "data" / "senseval"
CORPORA = ("line", "serve")
BANK_CSV = ROOT / "examples" / "bank_senses.csv"
# The README's main command: sentences 1 and 2 are the river sense, 3 the finance sense.
README_BANK = (
    ("river", "The river bank was muddy."),
    ("river", "We sat on the bank of the river."),
    ("finance", "The bank raised rates."),
)
TIE_TOLERANCE = 1e-5  # cosines this close to the best one count as tied neighbours


# -- reading the corpora --------------------------------------------------------------------------------------
@dataclass
class Instance:
    """One sense-tagged use: the context's tokens, the target's index among them, its sense."""

    id: str
    sense: str
    words: List[str]
    head: int
    n_answers: int = 1  # how many <answer> tags it had; the first one is its sense

    @property
    def form(self) -> str:
        return self.words[self.head]


INSTANCE_RE = re.compile(r"<instance\b[^>]*?\bid=\"([^\"]*)\"[^>]*>(.*?)</instance>", re.S)
ANSWER_RE = re.compile(r"<answer\b[^>]*?\bsenseid=\"([^\"]*)\"")
CONTEXT_RE = re.compile(r"<context>(.*?)</context>", re.S)
# A context is a sequence of <wf pos=..>word</wf> (pos quoted with " or '), <head>...</head> around the
# target, and a few stretches of untagged words (kept, split at whitespace, as NLTK's reader does).
PIECE_RE = re.compile(r"<wf\b[^>]*>(.*?)</wf>|(<head>)|(</head>)|(<[^>]*>)|([^<\s]+)", re.S)
# Markers of the original files' preprocessing: FRASL stands for "/" ("ps FRASL 2", "1 FRASL 2 cup").
MARKERS = {"FRASL": "/"}


class ParseError(ValueError):
    pass


def parse_instance(instance_id: str, body: str) -> Instance:
    """One ``<instance>``'s body as an :class:`Instance`; :class:`ParseError` says why it cannot be used."""
    answers = ANSWER_RE.findall(body)
    if not answers:
        raise ParseError("no <answer senseid=...>")
    contexts = CONTEXT_RE.findall(body)
    if len(contexts) != 1:
        raise ParseError(f"{len(contexts)} <context> elements")
    words: List[str] = []
    heads: List[int] = []
    in_head = False
    for wf, open_head, close_head, other_tag, bare in PIECE_RE.findall(contexts[0]):
        if open_head:
            if in_head:
                raise ParseError("nested <head>")
            in_head = True
            heads.append(len(words))
        elif close_head:
            in_head = False
        elif other_tag:
            continue  # e.g. <s>, <p>: layout only
        else:
            text = html.unescape((wf or bare).strip())
            text = MARKERS.get(text, text)
            # A <wf> with inner spaces stays one token; an empty one is dropped.
            if text:
                words.append(text)
    if len(heads) != 1:
        raise ParseError(f"{len(heads)} <head> elements")
    if heads[0] >= len(words):
        raise ParseError("empty <head>")
    return Instance(instance_id, answers[0], words, heads[0], len(answers))


def parse_senseval(text: str) -> Tuple[List[Instance], List[Tuple[str, str]]]:
    """Every ``<instance>`` of a Senseval ``.pos`` file: ``(instances, skipped)``, skipped as ``(id, reason)``.

    The files are not well-formed XML (``pos='"'``, bare ``&``, untagged words between tags), so this reads
    them with regular expressions, one instance at a time, and skips (and reports) what it cannot use.
    An instance with several ``<answer>`` tags gets the first one's sense (``n_answers`` records how many).
    """
    instances, skipped = [], []
    for instance_id, body in INSTANCE_RE.findall(text):
        try:
            instances.append(parse_instance(instance_id, body))
        except ParseError as err:
            skipped.append((instance_id, str(err)))
    return instances, skipped


def read_corpus(name: str, folder: Path = SENSEVAL, limit: Optional[int] = None, seed: int = 0):
    """``folder/NAME.pos`` parsed; with ``limit``, a stratified sample of that many instances (fixed seed)."""
    path = folder / f"{name}.pos"
    if not path.is_file():
        raise SystemExit(f"{path} not found; put ../shared beside the checkout or set SPACY_ELMO_SHARED")
    instances, skipped = parse_file(path)
    if limit is not None and limit < len(instances):
        return stratified_sample(instances, limit, seed), list(skipped)
    return list(instances), list(skipped)


@functools.lru_cache(maxsize=4)
def parse_file(path: Path) -> Tuple[List[Instance], List[Tuple[str, str]]]:
    """:func:`parse_senseval` on a file, once per process (callers must not change the lists)."""
    return parse_senseval(path.read_text(encoding="utf-8", errors="replace"))


def stratified_sample(instances: List[Instance], n: int, seed: int) -> List[Instance]:
    """``n`` instances in file order, drawn so that each sense keeps (about) its share."""
    order = numpy.random.default_rng(seed).permutation(len(instances))
    senses = numpy.array([instances[i].sense for i in order])
    # Round-robin over senses in proportion: rank every instance within its sense, then by relative rank.
    rank = numpy.zeros(len(order))
    for sense in numpy.unique(senses):
        where = numpy.flatnonzero(senses == sense)
        rank[where] = (numpy.arange(len(where)) + 0.5) / len(where)
    chosen = sorted(order[numpy.argsort(rank, kind="stable")[:n]])
    return [instances[i] for i in chosen]


# -- vectors --------------------------------------------------------------------------------------------------
def make_nlp(model=None, options=None, weights=None, precision="fp32"):
    """``spacy.blank("en")`` + the ``elmo`` component on the weights the CLI's ``--model`` /
    ``--options`` + ``--weights`` name (checked with the CLI's names first, so errors read like the CLI's),
    with the component's inference ``precision``."""
    import spacy

    from spacy_elmo.weights import CLI_NAMES, resolve_weights

    resolve_weights(model, options, weights, names=CLI_NAMES)
    config = {"weights": str(model)} if model is not None else {}
    if options is not None:
        config = {"options_file": str(options), "weight_file": str(weights)}
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={**config, "precision": precision})
    return nlp


def token_representations(token) -> Dict[str, numpy.ndarray]:
    """A token's vector per output layer (``"0"``, ``"1"``, ...), as ``token._.elmo`` gives it (``"mix"``),
    and its LSTM layers concatenated (``"1+2"``)."""
    layers = token.doc._.elmo_data.layers[:, token.i]
    reps = {str(k): layers[k] for k in range(layers.shape[0])}
    reps["mix"] = numpy.asarray(token._.elmo, dtype=numpy.float32)
    if layers.shape[0] > 2:
        reps["+".join(str(k) for k in range(1, layers.shape[0]))] = numpy.concatenate(list(layers[1:]))
    return reps


def stack(rows: List[Dict[str, numpy.ndarray]]) -> Dict[str, numpy.ndarray]:
    return {name: numpy.stack([row[name] for row in rows]) for name in rows[0]}


def target_vectors(nlp, instances: Sequence[Instance], batch_size: int = 64, progress: bool = True, desc: str = ""):
    """``{representation: [n_instances, dim]}``: the target word's vectors, contexts run with ``nlp.pipe``."""
    from spacy.tokens import Doc
    from tqdm import tqdm

    docs = (Doc(nlp.vocab, words=inst.words) for inst in instances)
    rows = []
    bar = tqdm(total=sum(len(i.words) for i in instances), unit="tok", desc=desc, disable=not progress, unit_scale=True)
    for inst, doc in zip(instances, nlp.pipe(docs, batch_size=batch_size)):
        rows.append(token_representations(doc[inst.head]))
        bar.update(len(inst.words))
    bar.close()
    return stack(rows)


# -- 1-NN and cross-validation ---------------------------------------------------------------------------------
def normalise(vectors: numpy.ndarray) -> numpy.ndarray:
    vectors = numpy.asarray(vectors, dtype=numpy.float64)
    norms = numpy.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / numpy.maximum(norms, 1e-12)


def nearest_neighbour(train: numpy.ndarray, train_labels: numpy.ndarray, test: numpy.ndarray, n_labels: int) -> numpy.ndarray:
    """Label index of each test row's nearest training row by cosine (labels are ints ``0..n_labels-1``).

    Ties: every training row within :data:`TIE_TOLERANCE` of the best cosine is a nearest neighbour, and
    the label most of them carry wins (see :func:`decide`). So a context-free vector, the same for every
    instance of a word form, predicts that form's majority sense in the training folds.
    """
    sims = normalise(test) @ normalise(train).T  # [n_test, n_train]
    tied = sims >= sims.max(axis=1, keepdims=True) - TIE_TOLERANCE
    votes = tied.astype(numpy.float64) @ numpy.eye(n_labels)[train_labels]  # [n_test, n_labels]
    return decide(votes, train_labels)


def decide(votes: numpy.ndarray, train_labels: numpy.ndarray) -> numpy.ndarray:
    """The label with the most votes in each row; an even split goes to the label more frequent in
    ``train_labels``, then to the lower label index."""
    n_labels = votes.shape[1]
    prior = numpy.bincount(train_labels, minlength=n_labels)
    # Less than one vote in all, so it only breaks ties.
    tie_break = (prior + (n_labels - numpy.arange(n_labels)) / (n_labels + 1)) / (len(train_labels) + 2)
    return (votes + tie_break).argmax(axis=1)


def stratified_folds(labels: Sequence, n_folds: int = 5, seed: int = 0) -> numpy.ndarray:
    """Fold number (``0..n_folds-1``) of every item: each sense's items shuffled (fixed seed) and dealt round."""
    labels = numpy.asarray(labels)
    rng = numpy.random.default_rng(seed)
    folds = numpy.empty(len(labels), dtype=int)
    offset = 0
    for label in sorted(set(labels.tolist())):
        where = rng.permutation(numpy.flatnonzero(labels == label))
        folds[where] = (numpy.arange(len(where)) + offset) % n_folds
        offset += len(where)  # the next sense starts where this one stopped, so fold sizes stay even
    return folds


def encode(labels: Sequence) -> Tuple[numpy.ndarray, List]:
    names = sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    return numpy.array([index[x] for x in labels], dtype=int), names


def cross_validate_1nn(vectors: numpy.ndarray, labels: Sequence, folds: numpy.ndarray) -> List[float]:
    """1-NN accuracy on each fold, trained on the other folds."""
    y, names = encode(labels)
    scores = []
    for fold in range(folds.max() + 1):
        test = folds == fold
        predicted = nearest_neighbour(vectors[~test], y[~test], vectors[test], len(names))
        scores.append(float((predicted == y[test]).mean()))
    return scores


def majority_baseline(labels: Sequence, folds: numpy.ndarray, groups: Optional[Sequence] = None) -> List[float]:
    """Accuracy on each fold of predicting the training folds' majority sense; with ``groups`` (e.g. word
    forms), the majority within the test item's group, or the overall one for a group unseen in training.
    Ties are broken as in :func:`nearest_neighbour`."""
    y, names = encode(labels)
    g = numpy.zeros(len(y), dtype=int) if groups is None else encode(groups)[0]
    scores = []
    for fold in range(folds.max() + 1):
        test = folds == fold
        counts = numpy.eye(g.max() + 1)[g[~test]].T @ numpy.eye(len(names))[y[~test]]  # [n_groups, n_labels]
        votes = counts[g[test]]
        unseen = votes.sum(axis=1) == 0
        votes[unseen] = numpy.bincount(y[~test], minlength=len(names))
        predicted = decide(votes, y[~test])
        scores.append(float((predicted == y[test]).mean()))
    return scores


def summary(scores: List[float]) -> Dict[str, object]:
    """Mean and sample sd (n - 1) over folds, and the folds' scores."""
    return {"mean": float(numpy.mean(scores)), "sd": float(numpy.std(scores, ddof=1)) if len(scores) > 1 else 0.0, "folds": scores}


def score_corpus(vectors: Dict[str, numpy.ndarray], instances: Sequence[Instance], n_folds: int = 5, seed: int = 0) -> Dict[str, object]:
    """Cross-validated 1-NN accuracy per representation, and both baselines, for one corpus."""
    senses = [inst.sense for inst in instances]
    folds = stratified_folds(senses, n_folds, seed)
    result = {
        "majority": summary(majority_baseline(senses, folds)),
        "form_majority": summary(majority_baseline(senses, folds, [inst.form for inst in instances])),
    }
    for name, matrix in vectors.items():
        result[name] = summary(cross_validate_1nn(matrix, senses, folds))
    return result


def best_representation(scores: Dict[str, Dict[str, object]], names: Iterable[str]) -> Tuple[str, float]:
    """The representation with the highest mean accuracy over the corpora, and that mean (the issue's metric)."""
    means = {name: float(numpy.mean([scores[c][name]["mean"] for c in scores])) for name in names}
    best = max(means, key=means.get)
    return best, means[best]


# -- the "bank" check ----------------------------------------------------------------------------------------
def bank_vectors(nlp, texts: Sequence[str], word: str = "bank") -> Dict[str, numpy.ndarray]:
    """The first use of ``word`` in each text (spaCy's tokenizer, as the CLI's ``similarity``), per representation."""
    rows = []
    for text, doc in zip(texts, nlp.pipe(texts)):
        tokens = [t for t in doc if t.lower_ == word]
        if not tokens:
            raise SystemExit(f"{word!r} not in {text!r}")
        rows.append(token_representations(tokens[0]))
    return stack(rows)


def sense_separation(vectors: numpy.ndarray, senses: Sequence[str]) -> Dict[str, float]:
    """Mean cosine of same-sense pairs (self-pairs excluded) and of cross-sense pairs, and the share of
    triples (anchor, same-sense other, cross-sense other) whose same-sense cosine is the higher."""
    unit = normalise(vectors)
    sims = unit @ unit.T
    labels = numpy.asarray(senses)
    same = labels[:, None] == labels[None, :]
    other = ~numpy.eye(len(labels), dtype=bool)
    # [anchor, same_j, cross_k]: sims[a, j] > sims[a, k] over the valid (a, j, k).
    valid = (same & other)[:, :, None] & (~same)[:, None, :]
    wins = sims[:, :, None] > sims[:, None, :]
    return {
        "same_sense_mean": float(sims[same & other].mean()),
        "cross_sense_mean": float(sims[~same].mean()),
        "triples_same_closer": float(wins[valid].mean()),
        "n_triples": int(valid.sum()),
    }


def bank_check(nlp, csv_path: Path = BANK_CSV) -> Dict[str, object]:
    """Per representation: the README example (is river-river above both river-finance cosines?) and
    :func:`sense_separation` on it and on ``examples/bank_senses.csv``."""
    senses, texts = zip(*README_BANK)
    readme = bank_vectors(nlp, texts)
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    csv_vectors = bank_vectors(nlp, [r["text"] for r in rows])
    result: Dict[str, object] = {"readme": {}, "bank_senses_csv": {}}
    for name in readme:
        unit = normalise(readme[name])
        sims = unit @ unit.T
        river_finance = [float(sims[0, 2]), float(sims[1, 2])]
        result["readme"][name] = {
            "river_river": float(sims[0, 1]),
            "river_finance": river_finance,
            "river_river_closest": bool(sims[0, 1] > max(river_finance)),
            **sense_separation(readme[name], senses),
        }
        result["bank_senses_csv"][name] = sense_separation(csv_vectors[name], [r["sense"] for r in rows])
    return result


# -- the run ------------------------------------------------------------------------------------------------
def run(nlp, corpora: Sequence[str] = CORPORA, folder: Path = SENSEVAL, limit: Optional[int] = None,
        n_folds: int = 5, seed: int = 0, batch_size: int = 64, bank: bool = True, progress: bool = True) -> Dict[str, object]:
    """The whole benchmark on one pipeline: a JSON-able dict (see :func:`format_report`)."""
    result: Dict[str, object] = {"corpora": {}, "scores": {}}
    names: List[str] = []
    for corpus in corpora:
        instances, skipped = read_corpus(corpus, folder, limit, seed)
        start = time.perf_counter()
        vectors = target_vectors(nlp, instances, batch_size, progress, desc=corpus)
        seconds = time.perf_counter() - start
        names = list(vectors)
        senses = [inst.sense for inst in instances]
        result["corpora"][corpus] = {
            "instances": len(instances),
            "tokens": sum(len(inst.words) for inst in instances),
            "skipped": len(skipped),
            "skipped_examples": skipped[:5],
            "several_answers": sum(inst.n_answers > 1 for inst in instances),
            "senses": {s: senses.count(s) for s in sorted(set(senses))},
            "forms": {f: sum(inst.form == f for inst in instances) for f in sorted({inst.form for inst in instances})},
            "embed_seconds": round(seconds, 1),
        }
        result["scores"][corpus] = score_corpus(vectors, instances, n_folds, seed)
    best, mean = best_representation(result["scores"], names)
    result["best"] = {"representation": best, "mean_over_corpora": mean, "target": 0.80, "met": mean >= 0.80}
    result["representations"] = names
    if bank:
        result["bank"] = bank_check(nlp)
    return result


def format_report(result: Dict[str, object]) -> str:
    """The figures as plain-text tables."""
    names = ["majority", "form_majority"] + result["representations"]
    corpora = list(result["scores"])
    lines = ["1-NN sense accuracy (cosine), mean ± sd over folds", ""]
    lines.append(f"{'':<16}" + "".join(f"{c:>18}" for c in corpora) + f"{'mean':>10}")
    for name in names:
        cells = [result["scores"][c][name] for c in corpora]
        label = {"majority": "majority sense", "form_majority": "form majority"}.get(name, f"layer {name}" if name[0].isdigit() else name)
        lines.append(f"{label:<16}" + "".join(f"{s['mean']:>11.3f} ± {s['sd']:.3f}" for s in cells)
                     + f"{numpy.mean([s['mean'] for s in cells]):>10.3f}")
    best = result["best"]
    lines.append(f"\nbest: {best['representation']}, mean over corpora {best['mean_over_corpora']:.3f} (target 0.80: {'met' if best['met'] else 'not met'})")
    if "bank" in result:
        lines.append("\n'bank': README example (river-river vs river-finance) and examples/bank_senses.csv")
        lines.append(f"{'':<8}{'river-river':>12}{'river-fin.':>16}  closest  {'csv same':>9}{'cross':>8}{'triples':>9}")
        for name, r in result["bank"]["readme"].items():
            c = result["bank"]["bank_senses_csv"][name]
            lines.append(f"{name:<8}{r['river_river']:>12.3f}{r['river_finance'][0]:>9.3f} {r['river_finance'][1]:.3f}"
                         f"  {'yes' if r['river_river_closest'] else 'no':>7}  {c['same_sense_mean']:>9.3f}{c['cross_sense_mean']:>8.3f}"
                         f"{c['triples_same_closer']:>9.2f}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="what the CLI's --model takes: a packaged model's name (en_elmo_small), a model dir, a run, a pipeline")
    parser.add_argument("--options", help="original options.json (with --weights)")
    parser.add_argument("--weights", help="original .hdf5 weights (with --options)")
    parser.add_argument("--data", type=Path, default=SENSEVAL, help="folder with line.pos and serve.pos")
    parser.add_argument("--corpora", default=",".join(CORPORA))
    parser.add_argument("--limit", type=int, help="instances per corpus (a stratified sample), for smoke runs")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64, help="docs per nlp.pipe batch")
    parser.add_argument("--no-bank", action="store_true", help="skip the 'bank' check")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"], help="the component's inference precision")
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)

    start, load = time.perf_counter(), os.getloadavg()
    from spacy_elmo import ElmoError

    try:
        nlp = make_nlp(args.model, args.options, args.weights, args.precision)
    except ElmoError as err:
        raise SystemExit(f"Error: {err}")
    result = run(nlp, args.corpora.split(","), args.data, args.limit, args.folds, args.seed, args.batch_size, not args.no_bank)
    result["settings"] = {
        "model": args.model, "options": args.options, "weights": args.weights, "limit": args.limit, "folds": args.folds,
        "seed": args.seed, "batch_size": args.batch_size, "tie_tolerance": TIE_TOLERANCE,
        "elmo_config": {k: v for k, v in nlp.get_pipe_config("elmo").items() if k in ("weights", "output_mix", "split", "precision")},
    }
    result["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                         "load_average_start": load, "load_average_end": os.getloadavg()}
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    print(format_report(result))
    print(f"\nwall time {result['wall_seconds']:.0f} s")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
