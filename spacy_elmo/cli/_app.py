import typer

app = typer.Typer(
    name="spacy-elmo",
    help="ELMo contextual embeddings for spaCy: inspect, embed, train and convert biLMs.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """ELMo contextual embeddings for spaCy."""
