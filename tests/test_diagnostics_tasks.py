"""The counting and copying tasks of "Transformers need glasses!" (§3 of
issue 19) and the LM trainer's example-source hook they train through."""

from __future__ import annotations

import json

import pytest
import torch

from openclrs.lm import config
from openclrs.lm import train as lm_train


def tiny_lm_config(**kw):
    return config.LMConfig(**{**dict(n_layer=1, n_head=2, n_embd=16, block_size=128), **kw})


def hook_train_config(out_dir, **kw):
    return config.TrainConfig(**{**dict(out_dir=str(out_dir), steps=2, batch_size=3,
                                        warmup_steps=1, checkpoint_every=2, log_every=1,
                                        threads=1, progress=False), **kw})


# --------------------------------------------------------------------------
# The trainer's hook: any example source
# --------------------------------------------------------------------------

class Ones:
    """A toy source: "count the ones" with n ones, n drawn from (seed, step)."""

    def __init__(self, seed=0, loss_on="answer"):
        self.seed, self.loss_on = seed, loss_on

    def __call__(self, step, batch_size):
        g = torch.Generator().manual_seed(self.seed * 1000 + step)
        ns = torch.randint(1, 9, (batch_size,), generator=g).tolist()
        return [("ones: " + "1" * n + "\n", f"{n}\n\n") for n in ns]

    def describe(self):
        return {"source": "ones", "seed": self.seed}


def test_make_batch_loss_on_every_token():
    tok = lm_train.CharTokenizer()
    pair = [("ab\n", "7\n\n")]
    inputs, answer_only = lm_train.make_batch(pair, tok, 16)
    _, everything = lm_train.make_batch(pair, tok, 16, loss_on="all")
    ids = tok.encode("ab\n", bos=True) + tok.encode("7\n\n", eos=True)
    assert inputs[0].tolist() == ids[:-1]
    assert everything[0].tolist() == ids[1:]  # every next token, prompt included
    assert answer_only[0].tolist() == [-100] * 3 + ids[4:]
    with pytest.raises(ValueError, match="loss_on"):
        lm_train.make_batch(pair, tok, 16, loss_on="prompt")


def test_trainer_hook_trains_on_a_source_and_refuses_other_data(tmp_path):
    out = tmp_path / "run"
    model, _ = lm_train.train(tiny_lm_config(), hook_train_config(out), examples=Ones(seed=1))
    assert [s for s, _ in model.history] == [1, 2]
    saved = json.loads((out / "config.json").read_text())
    assert saved["data"] == {"examples": {"source": "ones", "seed": 1}, "loss_on": "answer"}
    assert saved["train"]["algorithms"] == []  # no CLRS-Text algorithm is claimed
    # more steps on the same data resume; other data, or other loss placement, is refused
    more, _ = lm_train.train(tiny_lm_config(), hook_train_config(out, steps=3),
                             examples=Ones(seed=1))
    assert [s for s, _ in more.history] == [3]
    for other in (Ones(seed=2), Ones(seed=1, loss_on="all")):
        with pytest.raises(ValueError, match="another config.*data"):
            lm_train.train(tiny_lm_config(), hook_train_config(out, steps=4), examples=other)
    # a CLRS-Text run in that folder is refused too (its config has no "data")
    with pytest.raises(ValueError, match="another config"):
        lm_train.train(tiny_lm_config(), hook_train_config(out, steps=4, lengths=(4,)))
    with pytest.raises(ValueError, match="not both"):
        lm_train.train(tiny_lm_config(), hook_train_config(tmp_path / "b", lengths=(4,)),
                       examples=Ones())
    assert not (tmp_path / "b").exists()


def test_trainer_hook_resume_is_exact_and_loss_on_all_trains(tmp_path):
    full, _ = lm_train.train(tiny_lm_config(), hook_train_config(tmp_path / "a", steps=2),
                             examples=Ones(loss_on="all"))
    lm_train.train(tiny_lm_config(), hook_train_config(tmp_path / "b", steps=1),
                   examples=Ones(loss_on="all"))
    resumed, _ = lm_train.train(tiny_lm_config(), hook_train_config(tmp_path / "b", steps=2),
                                examples=Ones(loss_on="all"))
    assert resumed.history == full.history[1:]


def test_trainer_hook_refuses_a_bad_source(tmp_path):
    with pytest.raises(TypeError, match="describe"):
        lm_train.train(tiny_lm_config(), hook_train_config(tmp_path / "x"),
                       examples=lambda step, n: [])

    class Bad(Ones):
        def describe(self):
            return {"fn": print}
    with pytest.raises(ValueError, match="JSON"):
        lm_train.train(tiny_lm_config(), hook_train_config(tmp_path / "x"), examples=Bad())
    assert not (tmp_path / "x").exists()
