"""``info``: what a biLM is, how big, and where its weights are."""
from pathlib import Path
from typing import Optional

import typer

from ..layout import PIPELINE_CONFIG_NAME
from ._app import app
from ._common import clean_errors, model_option, options_option, weights_option


def _size(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"  # pragma: no cover


def _bf16_line() -> str:
    """What ``--precision`` / the ``precision`` setting can do on this machine."""
    from ..bilm.fast.cpu_bf16 import bf16_native, cpu_capabilities

    caps = cpu_capabilities()
    found = [name for flag, name in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16"), ("bf16", "BF16")) if caps.get(flag)]
    if not bf16_native():
        return "no native bf16: precision bf16 is refused, auto = fp32"
    return f"native ({', '.join(found)}): precision bf16 available"


def _auto_lines(options) -> list:
    """What ``precision = "auto"`` chose for this model here and why (measured now, or read from the
    cache file), and what ``[training] autocast = "auto"`` chose where a run has measured it."""
    from ..bilm.fast.precision_auto import ProductSizes, auto_verdict

    sizes = ProductSizes.of(options)
    rows = [("precision auto", auto_verdict(sizes).describe())]
    training = auto_verdict(sizes, "training", measure=False)
    if training.source != "not measured":
        rows.append(("autocast auto", training.describe()))
    return rows


@app.command()
@clean_errors
def info(
    path: Optional[Path] = typer.Argument(None, metavar="[MODEL]", help="Same as --model; or an options.json (then give --weights)."),
    model: Optional[Path] = model_option,
    options: Optional[Path] = options_option,
    weights: Optional[Path] = weights_option,
) -> None:
    """Print a biLM's sizes, layers, output width and where its weights are (default: the packaged model).

    MODEL may also be the name of a packaged model (listed at the end).
    """
    from ..application.loading import resolve_cli_weights
    from ..models import DEFAULT_MODEL_NAME, packaged_models

    if path is not None:
        if path.suffix == ".json" or (weights is not None and options is None):
            options = options or path
        else:
            model = model or path
    chosen = resolve_cli_weights(model, options, weights)
    source = chosen.manifest()
    bilm = chosen.load()
    opts = bilm.options
    n_params = sum(p.numel() for p in bilm.parameters())
    kind = {"native": "spacy-elmo native (options.json + weights.safetensors)",
            "packaged": f"spacy-elmo native, packaged as {chosen.name!r}" + (" (the default)" if chosen.name == DEFAULT_MODEL_NAME else ""),
            "run": "spacy-elmo pretraining run (its biLM in model/)",
            "original": "original AllenNLP / bilm-tf (options.json + .hdf5)",
            "spacy": f"spaCy pipeline; the biLM of its component {chosen.component!r}",
            "elmoformanylangs": "ELMoForManyLangs model folder (config.json, char.dic, word.dic, .pkl state dicts; `convert` makes it native)",
            "published": f"spacy-elmo native, converted from the published model {chosen.name!r} (python -m spacy_elmo models)"}[chosen.kind]
    where = source["paths"][0] if len(source["paths"]) == 1 else " + ".join(source["paths"])
    rows = [
        ("weights", where),
        ("format", kind),
        ("files", ", ".join(f"{Path(p).name} {_size(s)}" for p, s in source["files"].items() if not Path(p).name.startswith("."))[:300]),
        ("parameters", f"{n_params:,} ({_size(4 * n_params)} as float32)"),
        ("char CNN", f"{opts.n_filters} filters (widths {', '.join(f'{w}x{n}' for w, n in opts.filters)}), "
                     f"char embedding {opts.char_embedding_dim}, {opts.n_highway} highway, {opts.activation}, "
                     + (f"max {opts.max_characters_per_token} bytes per token" if opts.vocabulary == "bytes" else
                        f"a dictionary of {opts.n_characters - 1} characters, max {opts.max_characters_per_token} per token, "
                        f"word embedding {opts.word_embedding_dim} ({max(opts.n_words - 1, 0)} words)")),
        ("biLSTM", f"{opts.n_lstm_layers} layers x 2 directions, {opts.lstm_dim} cells -> projection {opts.projection_dim}, "
                   f"residual {'on' if opts.use_skip_connections else 'off'}, cell clip {opts.cell_clip}, proj clip {opts.proj_clip}"),
        ("output layers", f"{opts.n_output_layers} (0 = context-free token layer, 1..{opts.n_lstm_layers} = biLSTM layers)"),
        ("vector width", f"{opts.output_dim} (forward {opts.projection_dim} + backward {opts.projection_dim})"),
        ("bf16 on this CPU", _bf16_line()),
        *_auto_lines(opts),
    ]
    if chosen.kind == "spacy" and chosen.pipeline_dir is not None:
        import spacy

        config = spacy.util.load_config(chosen.pipeline_dir / PIPELINE_CONFIG_NAME)
        elmo = dict(config["components"][chosen.component])
        elmo.pop("model", None)
        rows.append(("component", ", ".join(f"{k}={v}" for k, v in elmo.items() if k != "factory")))
        rows.append(("pipeline", ", ".join(config["nlp"]["pipeline"])))
    folder = chosen.folder
    for card in (folder / "MODEL_CARD.md", folder / "README.md"):
        if card.is_file():
            rows.append(("model card", str(card)))
            break
    extra = {k: v for k, v in opts.extra.items() if isinstance(v, (str, int, float))}
    if extra:
        rows.append(("metadata", ", ".join(f"{k}={v}" for k, v in extra.items())))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        typer.echo(f"{name + ':':<{width + 2}}{value}")
    packaged = [name + (" (default)" if name == DEFAULT_MODEL_NAME else "") for name in packaged_models()]
    typer.echo(f"\npackaged models (use by name: --model NAME, or config={{'weights': NAME}}): {', '.join(packaged) or 'none'}")
