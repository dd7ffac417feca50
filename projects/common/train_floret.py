"""Static word vectors from the biLM's own text, for the "same text" baselines (issue 19).

floret (spaCy's fastText fork) rather than gensim: `spacy init vectors --mode floret` loads it directly, and its
hashed subword table gives every token a vector, the names and numbers of CoNLL that a word list misses included,
in a table whose size is fixed (``--bucket`` rows) whatever the vocabulary.

The text is tokenised with spaCy's English tokenizer first, so the vectors are keyed by the same tokens the
pipelines will look up.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def tokenise(src: Path, dest: Path, limit: int = 0) -> int:
    """One line of space-separated spaCy tokens per input line; returns the number of tokens written."""
    import spacy

    nlp = spacy.blank("en")
    n_tokens = 0
    with src.open(encoding="utf8") as fin, dest.open("w", encoding="utf8") as fout:
        lines = (line.strip() for i, line in enumerate(fin) if not limit or i < limit)
        for doc in nlp.pipe((line for line in lines if line), batch_size=1000):
            words = [t.text for t in doc if not t.is_space]
            n_tokens += len(words)
            fout.write(" ".join(words) + "\n")
    return n_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("text", type=Path, help="raw text, one sentence or paragraph a line")
    parser.add_argument("output_dir", type=Path, help="gets vectors.floret, tokens.txt and floret.json")
    parser.add_argument("--model", default="cbow", choices=["cbow", "skipgram"])
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--epoch", type=int, default=10)
    parser.add_argument("--minn", type=int, default=4)
    parser.add_argument("--maxn", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=3)
    parser.add_argument("--bucket", type=int, default=100000, help="rows of the hashed table")
    parser.add_argument("--hash-count", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="lines of text to read, 0 = all (smoke runs)")
    args = parser.parse_args()

    import floret

    args.output_dir.mkdir(parents=True, exist_ok=True)
    tokens_path = args.output_dir / "tokens.txt"
    start = time.time()
    n_tokens = tokenise(args.text, tokens_path, args.limit)
    tokenised = time.time()
    model = floret.train_unsupervised(
        str(tokens_path), model=args.model, mode="floret", dim=args.dim, epoch=args.epoch,
        minn=args.minn, maxn=args.maxn, minCount=args.min_count, bucket=args.bucket,
        hashCount=args.hash_count, thread=args.threads, verbose=0,
    )
    model.save_floret_vectors(str(args.output_dir / "vectors.floret"))
    settings = {k: v for k, v in vars(args).items() if k not in ("text", "output_dir")}
    record = {
        "text": str(args.text), "tokens": n_tokens, "settings": settings,
        "seconds_tokenise": round(tokenised - start, 1), "seconds_train": round(time.time() - tokenised, 1),
        "floret_version": getattr(floret, "__version__", "unknown"),
    }
    (args.output_dir / "floret.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf8")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
