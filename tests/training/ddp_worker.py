"""Run by ``torchrun`` from test_distributed.py: train the tiny config, dump this rank's weights."""
import sys
from pathlib import Path

import torch

from spacy_elmo.training.trainer import Trainer, evaluate

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.training.corpus_helpers import tiny_config  # noqa: E402


def main(workdir: Path) -> None:
    torch.set_num_threads(1)
    trainer = Trainer(workdir / "train.txt", workdir / "run", tiny_config(max_steps=12, checkpoint_every_steps=6),
                      dev_path=workdir / "dev.txt", progress=False, log=lambda *a: None)
    before = evaluate(trainer.lm, trainer.dev_maker)["ppl"]
    trainer.train()
    after = evaluate(trainer.lm, trainer.dev_maker)["ppl"]
    rank = trainer.dist.rank
    torch.save({"weights": trainer.lm.state_dict(), "before": before, "after": after, "world": trainer.dist.world_size,
                "tokens_seen": trainer.tokens_seen}, workdir / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
