"""``models`` (the published models one name away) and ``download NAME`` (fetch, verify, convert, cache)."""
from typing import Optional

import typer

from ._app import app
from ._common import clean_errors


def _size(n_bytes: Optional[int]) -> str:
    if n_bytes is None:
        return "?"
    if n_bytes < 1e6:
        return f"{n_bytes / 1e3:.0f} kB"
    return f"{n_bytes / 1e6:,.0f} MB" if n_bytes < 1e9 else f"{n_bytes / 1e9:.1f} GB"


@app.command()
@clean_errors
def models(
    lang: Optional[str] = typer.Option(None, "--lang", help="Only models of this spaCy language code (en, de, ...)."),
    cached: bool = typer.Option(False, "--cached", help="Only the models already in the cache."),
    urls: bool = typer.Option(False, "--urls", help="Also print every model's URLs."),
) -> None:
    """List the published ELMo models that can be named anywhere a model is taken (--model NAME,
    config={'weights': NAME}, load_bilm(NAME)): fetched, verified and cached on first use.

    Columns: name, spaCy language, format, download size (where the registry states it, or once cached), cached, how the files are
    pinned (publisher sha256 / publisher md5+sha1 / sha256 recorded on first download / none yet), licence,
    source; "http" marks plain-http downloads (verified only by the recorded sha256).
    """
    from ..published import REGISTRY_ENV, is_cached, load_registry, models_root, offline, pin_state
    from ..published.cache import cached_size
    from ..published.registry import user_registry_path

    entries = load_registry()
    rows = []
    for entry in entries.values():
        if lang is not None and entry.lang != lang:
            continue
        here = is_cached(entry)
        if cached and not here:
            continue
        rows.append((
            entry.name, entry.lang, entry.format, _size(entry.known_size or (cached_size(entry) if here else None)),
            "yes" if here else "no",
            pin_state(entry) + (", plain http" if entry.plain_http else ""), entry.license or "not stated",
            entry.source or (entry.urls[0] if entry.urls else ""), entry,
        ))
    header = ("name", "lang", "format", "size", "cached", "pinned", "licence", "source")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    typer.echo("  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  " + header[-1])
    for row in rows:
        typer.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths)) + "  " + str(row[len(header) - 1]))
        if urls:
            for url in row[-1].urls:
                typer.echo(f"    {url}")
    user = user_registry_path()
    typer.echo(
        f"\n{len(rows)} models; cache: {models_root()}"
        + (f"; your registry: {user}" if user else f"; add your own with {REGISTRY_ENV}=FILE.json")
        + ("; offline (SPACY_ELMO_OFFLINE)" if offline() else "")
        + ". Fetch one ahead of use: python -m spacy_elmo download NAME"
    )


@app.command()
@clean_errors
def download(
    name: str = typer.Argument(..., help="A published model's name (python -m spacy_elmo models lists them)."),
    force: bool = typer.Option(False, "--force", help="Fetch and convert it again even if it is cached (recorded hashes still apply)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or messages; print only the folder."),
) -> None:
    """Download a published model, verify it, convert it to the native format and cache it; print its folder.

    Resumes a cut download; safe to run in several processes at once (they share one copy). With
    SPACY_ELMO_OFFLINE=1 it only converts files already placed in the cache's download folder.
    """
    from ..published import ensure_model, load_registry, pin_state

    entries = load_registry()
    folder = ensure_model(name, progress=not quiet, force=force, entries=entries)
    if quiet:
        typer.echo(str(folder))
        return
    entry = entries[name]
    typer.echo(f"{name} ({entry.language or entry.lang}, {entry.format}) is cached at {folder}")
    typer.echo(f"verified by: {pin_state(entry)}. Use it by name: --model {name}, or config={{'weights': '{name}'}}.")
