"""Issue 28, part 4: a command-line option is never accepted and then ignored without a word.

``--lang`` chooses the tokenizer of a blank pipeline; a spaCy pipeline given as ``--model`` brings its
own, so a different ``--lang`` is an error that says so (it was silently ignored)."""
import pytest

from spacy_elmo.application.loading import load_nlp
from spacy_elmo.errors import ElmoError


@pytest.fixture(scope="module")
def pipeline_dir(tiny_model, tmp_path_factory):
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model)})
    path = tmp_path_factory.mktemp("pipeline") / "en_pipeline"
    nlp.to_disk(path)
    return path


def test_lang_other_than_the_pipelines_is_an_error(pipeline_dir):
    with pytest.raises(ElmoError, match=r"--lang 'de' does not apply to the spaCy pipeline .* its own 'en' tokenizer"):
        load_nlp(pipeline_dir, None, None, lang="de")


def test_lang_of_the_pipeline_or_none_loads_it(pipeline_dir):
    assert load_nlp(pipeline_dir, None, None).lang == "en"
    assert load_nlp(pipeline_dir, None, None, lang="en").lang == "en"


def test_lang_still_chooses_the_tokenizer_of_plain_weights(tiny_model):
    assert load_nlp(tiny_model, None, None, lang="de").lang == "de"
    assert load_nlp(tiny_model, None, None).lang == "en"


def test_the_command_line_says_so(cli, pipeline_dir, tmp_path):
    (tmp_path / "in.txt").write_text("Ein Satz .\n", encoding="utf-8")
    result = cli("embed", tmp_path / "in.txt", tmp_path / "out.npz", "--model", pipeline_dir, "--lang", "de")
    assert result.exit_code == 1
    assert "--lang 'de' does not apply" in result.stderr


def test_lang_with_a_docbin_input_is_an_error(cli, tiny_model, tmp_path):
    """A DocBin's docs keep their own tokens: --lang would change nothing."""
    import spacy
    from spacy.tokens import DocBin

    DocBin(docs=[spacy.blank("en")("Two tokens")]).to_disk(tmp_path / "in.spacy")
    result = cli("embed", tmp_path / "in.spacy", tmp_path / "out.npz", "--model", tiny_model, "--lang", "de")
    assert result.exit_code == 1
    assert "--lang 'de' does not apply" in result.stderr and "brings its own tokens" in result.stderr
    assert cli("embed", tmp_path / "in.spacy", tmp_path / "out.npz", "--model", tiny_model).exit_code == 0


@pytest.fixture
def started_run(tmp_path):
    """A run directory as ``pretrain`` starts it: its config.cfg (English, spaCy-tokenized, the default model)."""
    from spacy_elmo.layout import RUN_CONFIG_NAME
    from spacy_elmo.training.config import PretrainConfig

    (tmp_path / "run").mkdir()
    PretrainConfig().to_file(tmp_path / "run" / RUN_CONFIG_NAME)
    (tmp_path / "corpus.txt").write_text("A sentence .\n", encoding="utf-8")
    (tmp_path / "other.cfg").write_text("[corpus]\nlang = \"de\"\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("extra, named", [(["--lang", "de"], "--lang de (the run tokenizes as 'en')"),
                                          (["--pretokenized"], "--pretokenized (the run's text was tokenized by spaCy)"),
                                          (["--config", "other.cfg"], "its [corpus] is not the run's")])
def test_pretrain_resume_refuses_options_that_differ_from_the_run(cli, started_run, extra, named):
    """--resume reads the run's own config, vocabulary and weights; a different value used to be dropped silently."""
    extra = [str(started_run / e) if e.endswith(".cfg") else e for e in extra]
    result = cli("pretrain", started_run / "corpus.txt", started_run / "run", "--resume", *extra)
    assert result.exit_code == 1
    assert named in result.stderr and "would not change" in result.stderr


def test_pretrain_resume_accepts_the_same_command_again(cli, started_run):
    """The documented way to resume is the same command with --resume: options equal to the run's pass."""
    (started_run / "same.cfg").write_text("[corpus]\nlang = \"en\"\n", encoding="utf-8")
    result = cli("pretrain", started_run / "corpus.txt", started_run / "run", "--resume", "--lang", "en",
                 "--config", started_run / "same.cfg", "--init-from", "en_elmo_small")
    assert "would not change" not in result.stderr
    assert "--init-from en_elmo_small is not used" in result.stderr
    assert "no checkpoint" in result.stderr  # the trainer's own answer for this run, which never saved one


def test_adapt_says_head_steps_is_unused_for_a_model_with_an_output_layer(cli, tmp_path):
    """en_elmo_small ships its output layer, so there is nothing for --head-steps to fit."""
    result = cli("adapt", "en_elmo_small", tmp_path / "nothing.txt", tmp_path / "out", "--head-steps", "5")
    assert "--head-steps 5 is not used" in result.stderr and "has its own output layer" in result.stderr
    quiet = cli("adapt", "en_elmo_small", tmp_path / "nothing.txt", tmp_path / "out")
    assert "--head-steps" not in quiet.stderr


@pytest.mark.parametrize("extra, message", [(["--half"], "--half applies to --native only"),
                                            (["--native", "--weight-name", "w.hdf5"], "--weight-name names the hdf5 file")])
def test_export_refuses_an_option_of_the_other_format(cli, tiny_model, tmp_path, extra, message):
    result = cli("export", tiny_model, tmp_path / "out", *extra)
    assert result.exit_code == 1 and message in result.stderr
    assert not (tmp_path / "out").exists()


def test_text_column_with_a_plain_text_file_is_an_error(tmp_path):
    from spacy_elmo.application.word_vectors import read_labelled

    (tmp_path / "s.txt").write_text("The bank .\n", encoding="utf-8")
    with pytest.raises(ElmoError, match="--text-column needs a .csv or .tsv"):
        read_labelled(tmp_path / "s.txt", text_column="sentence")
    assert read_labelled(tmp_path / "s.txt") == (["The bank ."], None)
