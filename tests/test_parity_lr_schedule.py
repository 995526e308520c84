"""The learned-halting parity benchmark's learning-rate decay
(ParityConfig.lr_decay_steps / final_lr; not the dm-clrs reference parity of
tests/test_parity.py): the schedule by hand, what the optimizer uses,
exact resume across the decay, and runs made before the setting existed."""

import json
import math

import pytest
import torch

from openclrs.halting.parity import config_from_run, train
from openclrs.halting.parity_config import ParityConfig


def tiny(tmp_path, name="run", **changes):
    settings = dict(out=str(tmp_path / name), size=6, hidden=8, batch=16, max_steps=5, steps=6,
                    eval_samples=8, eval_every=0, log_every=2, checkpoint_every=3, progress=False,
                    lr=1e-2, lr_decay_steps=4, final_lr=1e-3)
    return ParityConfig(**{**settings, **changes})


def test_cosine_schedule_by_hand(tmp_path):
    cfg = tiny(tmp_path)
    assert cfg.learning_rate(1) == pytest.approx(1e-2)                        # cos 0
    assert cfg.learning_rate(3) == pytest.approx(1e-3 + 9e-3 * 0.5)           # cos π/2
    assert cfg.learning_rate(2) == pytest.approx(1e-3 + 9e-3 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert cfg.learning_rate(5) == cfg.learning_rate(500) == pytest.approx(1e-3)
    assert tiny(tmp_path, lr_decay_steps=0).learning_rate(5) == 1e-2       # off: constant lr


def test_the_optimizer_steps_with_the_scheduled_rate(tmp_path, monkeypatch):
    seen = []
    step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    cfg = tiny(tmp_path)
    train(cfg)
    assert seen == pytest.approx([cfg.learning_rate(s) for s in range(1, 7)])


def test_resume_across_the_decay_is_exact(tmp_path):
    straight, _ = train(tiny(tmp_path, "straight"))
    train(tiny(tmp_path, "resumed", steps=3))
    resumed, _ = train(tiny(tmp_path, "resumed"))
    for name, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    with pytest.raises(ValueError, match="lr_decay_steps"):
        train(tiny(tmp_path, "resumed", steps=9, lr_decay_steps=8))


def test_constant_rate_runs_keep_their_old_config(tmp_path):
    """A run without decay writes no decay settings, so folders made before
    they existed still resume; reading such a folder gives the defaults."""
    cfg = tiny(tmp_path, lr_decay_steps=0, steps=3)
    train(cfg)
    saved = json.load(open(tmp_path / "run" / "config.json"))
    assert "lr_decay_steps" not in saved and "final_lr" not in saved
    assert config_from_run(cfg.out).lr_decay_steps == 0
    train(tiny(tmp_path, lr_decay_steps=0, steps=6))                       # resumes


def test_bad_decay_settings_are_named(tmp_path):
    with pytest.raises(ValueError, match="lr_decay_steps"):
        tiny(tmp_path, lr_decay_steps=-1)
    with pytest.raises(ValueError, match="final_lr"):
        tiny(tmp_path, final_lr=-1.0)
