"""How far the default inference route is from each reference in ../shared/data/elmo-reference: one number per
reference, for BENCHMARKS.md after a change to how the biLM runs (the tests hold each to its tolerance; this
prints the figure).

- ``allennlp``, ``bilm-tf``: the original TensorFlow biLM's top layer, batches of 3 with the LSTM state carried
  (``embed_sentences(..., stateful=True)``), tolerance 1e-6 (+ rtol 1e-5) in tests/bilm/test_reference.py;
- ``elmoformanylangs``: ``sents2elmo``'s 3 layers (tolerance 1e-5, tests/bilm/test_elmoformanylangs.py);
- ``allennlp-elmo-module``: AllenNLP's ``Elmo``, variant a's two mixes (tests/test_allennlp_compat.py).

    python benchmarks/reference_parity.py [--threads N]
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import h5py
import numpy
import torch

from common import ROOT, machine_description

REFERENCE = Path(os.environ.get("SPACY_ELMO_SHARED", ROOT.parent / "shared")) / "data" / "elmo-reference"


def tensorflow_reference(folder: Path) -> float:
    from spacy_elmo import load_bilm

    bilm = load_bilm(folder / "options.json", folder / "lm_weights.hdf5")
    names = [n for n in ("sentences.json", "lm_embeddings_sentences.json") if (folder / n).is_file()]
    sentences = json.loads((folder / names[0]).read_text())
    dim = bilm.options.projection_dim
    worst = 0.0
    bilm.reset_states()
    for i in range(len(sentences[0])):
        batch = [sentences[k][i].split() for k in range(3)]
        for k, layers in enumerate(bilm.embed_sentences(batch, batch_size=3, stateful=True)):
            with h5py.File(folder / f"lm_embeddings_{k}.hdf5", "r") as h5:
                want = h5[str(i)][...]
            got = numpy.stack([layers[-1][:, :dim], layers[-1][:, dim:]])
            worst = max(worst, float(numpy.abs(got - want).max()))
    return worst


def elmoformanylangs_reference(folder: Path) -> float:
    from spacy_elmo import load_bilm

    data = numpy.load(folder / "reference_outputs.npz")
    sentences = json.loads(str(data["sentences"]))
    outputs = load_bilm(folder / "tiny.model").embed_sentences(sentences)
    return max(float(numpy.abs(got - data[f"all_{i}"]).max()) for i, got in enumerate(outputs))


def elmo_module_reference(folder: Path) -> float:
    from spacy_elmo import Elmo, batch_to_ids

    data = numpy.load(folder / "reference.npz")
    sentences = json.loads((folder / "sentences.json").read_text(encoding="utf-8"))
    allennlp = folder.parent / "allennlp"
    elmo = Elmo(allennlp / "options.json", allennlp / "lm_weights.hdf5", 2, dropout=0.0).eval()
    with torch.no_grad():
        reps = elmo(batch_to_ids(sentences))["elmo_representations"]
    return max(float(numpy.abs(rep.numpy() - data[f"a_rep{k}"]).max()) for k, rep in enumerate(reps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_description())
    checks = [
        ("allennlp (TensorFlow biLM, stateful batches of 3)", tensorflow_reference, REFERENCE / "allennlp", 1e-6),
        ("bilm-tf (TensorFlow biLM, stateful batches of 3)", tensorflow_reference, REFERENCE / "bilm-tf" / "model", 1e-6),
        ("elmoformanylangs (sents2elmo, 3 layers)", elmoformanylangs_reference, REFERENCE / "elmoformanylangs", 1e-5),
        ("allennlp-elmo-module (Elmo, variant a)", elmo_module_reference, REFERENCE / "allennlp-elmo-module", 1e-5),
    ]
    print("| reference | max abs diff | tests' tolerance |\n|---|---|---|")
    for name, check, folder, tolerance in checks:
        if not folder.is_dir():
            raise SystemExit(f"{folder} is missing: put ../shared beside the checkout or set SPACY_ELMO_SHARED.")
        print(f"| {name} | {check(folder):.2e} | {tolerance:g} |")


if __name__ == "__main__":
    main()
