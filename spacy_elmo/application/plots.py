"""PNG pictures with matplotlib (the optional ``viz`` extra): word senses in 2-D, listeners' mix weights."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy

from ..atomic import atomic_path
from .analysis import Occurrence, pca_2d
from ..errors import ElmoError


def require_matplotlib():
    """``matplotlib.pyplot`` with a headless backend, or a clear message on how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ElmoError(
            "Pictures need matplotlib, an optional extra: pip install 'spacy-elmo[viz]' (or pip install matplotlib)."
        ) from err
    return plt


def plot_word_pca(
    word: str, occurrences: Sequence[Occurrence], output: Path, layers: str = "mix", annotate: Optional[bool] = None
) -> numpy.ndarray:
    """Scatter the first two principal components of the occurrences' vectors; returns the variance ratio."""
    plt = require_matplotlib()
    coords, ratio = pca_2d(numpy.stack([o.vector for o in occurrences]))
    labels = [o.label for o in occurrences]
    fig, ax = plt.subplots(figsize=(8, 6), dpi=120)
    if any(label is not None for label in labels):
        names = sorted({str(label) for label in labels})
        cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
        for k, name in enumerate(names):
            rows = [i for i, label in enumerate(labels) if str(label) == name]
            ax.scatter(coords[rows, 0], coords[rows, 1], color=cmap(k % cmap.N), label=name or "(no label)", s=40, alpha=0.85)
        ax.legend(title="label", loc="best", fontsize=8)
    else:
        ax.scatter(coords[:, 0], coords[:, 1], s=40, alpha=0.85)
    if annotate if annotate is not None else len(occurrences) <= 40:
        for (x, y), occ in zip(coords, occurrences):
            ax.annotate(occ.context(width=36), (x, y), fontsize=6, alpha=0.8, xytext=(3, 3), textcoords="offset points")
    ax.set_title(f"{word!r} in {len(occurrences)} contexts (layers: {layers})")
    ax.set_xlabel(f"PC 1 ({ratio[0]:.0%} of variance)")
    ax.set_ylabel(f"PC 2 ({ratio[1]:.0%} of variance)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, output)
    plt.close(fig)
    return ratio


@dataclass
class ListenerMix:
    """One listener's learned mix: softmax-normalised layer weights and gamma. ``untrained``: both
    are still exactly their initial values, so no update ever reached this listener."""

    name: str
    weights: numpy.ndarray
    gamma: float
    untrained: bool = False


def at_initial_values(listener) -> bool:
    """Whether a listener's mix logits and gamma are exactly what ``listener_init`` set. WHY: spaCy's
    model-best is the pipeline of the best evaluation; when that was the first one, before any update,
    its mix (equal weights, gamma 1) is the starting point, not a learned result."""
    logits = numpy.asarray(listener.ops.to_numpy(listener.get_param("mix_weights")), dtype="f")
    initial = listener.attrs.get("initial_weights")
    start = numpy.zeros_like(logits) if initial is None else numpy.asarray(initial, dtype="f")
    gamma = numpy.float32(listener.gamma) == numpy.float32(listener.attrs.get("initial_gamma", 1.0))
    return bool(gamma and numpy.array_equal(logits, start))


def listener_mixes(pipeline_dir: Path) -> List[ListenerMix]:
    """The mix of every initialised ElmoListener in a saved pipeline, named after its component."""
    import spacy

    from .loading import is_spacy_pipeline_dir
    from ..layers.listener import ElmoListener

    pipeline_dir = Path(pipeline_dir)
    if not is_spacy_pipeline_dir(pipeline_dir):
        raise ElmoError(f"{pipeline_dir} is not a saved spaCy pipeline (no config.cfg + meta.json); give the output of `spacy train`, e.g. training/model-best.")
    try:
        nlp = spacy.load(pipeline_dir)
    except (OSError, ValueError, KeyError) as err:
        raise ElmoError(f"Cannot load the spaCy pipeline {pipeline_dir}: {err}") from err
    mixes: List[ListenerMix] = []
    for name, component in nlp.pipeline:
        model = getattr(component, "model", None)
        if model is None or not hasattr(model, "walk"):
            continue
        found = [node for node in model.walk() if isinstance(node, ElmoListener) and node.has_param("mix_weights")]
        for k, listener in enumerate(found):
            label = name if len(found) == 1 else f"{name} #{k + 1}"
            weights = numpy.asarray(listener.mix_weights, dtype=float)
            mixes.append(ListenerMix(label, weights, listener.gamma, untrained=at_initial_values(listener)))
    if not mixes:
        raise ElmoError(
            f"{pipeline_dir} has no trained ElmoListener (components: {', '.join(nlp.pipe_names) or 'none'}). "
            "Train a pipeline with spacy-elmo.ElmoListener.v1, e.g. configs/ner_elmo.cfg."
        )
    return mixes


def plot_mix_weights(mixes: Sequence[ListenerMix], output: Path) -> None:
    """Grouped bars: for each output layer, each listener's softmax weight (gamma in the legend)."""
    plt = require_matplotlib()
    n_output_layers = max(len(m.weights) for m in mixes)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * n_output_layers + 2), 4.5), dpi=120)
    width = 0.8 / len(mixes)
    x = numpy.arange(n_output_layers)
    for k, mix in enumerate(mixes):
        offset = (k - (len(mixes) - 1) / 2) * width
        bars = ax.bar(x[: len(mix.weights)] + offset, mix.weights, width, label=f"{mix.name} (gamma {mix.gamma:.2f}{', untrained' if mix.untrained else ''})")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    names = ["0: tokens (char CNN)"] + [f"{i}: LSTM {i}" for i in range(1, n_output_layers)]
    ax.set_xticks(x, names)
    ax.axhline(1.0 / n_output_layers, color="grey", linestyle="--", linewidth=0.8, label="equal weights")
    ax.set_ylabel("softmax weight")
    ax.set_ylim(0, 1.05)
    ax.set_title("Learned ELMo layer weights of each listener")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, output)
    plt.close(fig)


def check_png_path(output: Path) -> Path:
    output = Path(output)
    if output.suffix.lower() != ".png":
        raise ElmoError(f"Pictures are written as PNG; give an output ending in .png, not {output.name!r}.")
    return output


def _save(fig, output: Path) -> None:
    """Write atomically, so an error never leaves half a PNG behind."""
    output = check_png_path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png")
