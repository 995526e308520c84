"""Model configuration: plain data, importable without torch.

:class:`ModelConfig` says what :class:`~openclrs.models.model.Reasoner`
builds. It lives apart from the model so that code which only reads, writes
or parses a configuration (``openclrs train --help``, run folders) need not
import torch. Each field's ``metadata["help"]`` is its one-line description,
for generated command-line options.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

HINT_MODES = ("encoded_decoded", "decoded_only", "none")
REPRED_MODES = ("soft", "hard", "hard_on_eval")
ENCODER_INITS = ("default", "xavier_on_scalars")


def _help(text: str, **kwargs):
    return field(metadata={"help": text}, **kwargs)


@dataclass
class ModelConfig:
    """Model hyperparameters; the defaults are the published training
    script's (``examples/run.py``), i.e. the Triplet-GMPNN of Ibarz et al."""

    hidden_size: int = _help("width of node, edge and graph features", default=128)
    processor: str = _help("processor kind (openclrs.models.processors.PROCESSORS)",
                           default="triplet_gmpnn")
    # The three options every processor factory takes (each kind uses those
    # that apply to it), then any further keyword for the processor class.
    use_ln: bool = _help("LayerNorm after the processor's update", default=True)
    nb_triplet_fts: int = _help("width of the triplet messages", default=8)
    nb_heads: int = _help("attention heads (GAT kinds)", default=1)
    processor_options: dict = _help("further keywords for the processor class",
                                    default_factory=dict)
    # encoded_decoded: hints are predicted and fed back; decoded_only: only
    # predicted (an auxiliary loss); none: ignored.
    hint_mode: str = _help("encoded_decoded, decoded_only or none", default="encoded_decoded")
    hint_teacher_forcing: float = _help(
        "probability of feeding a sample its true hints while training", default=0.0)
    hint_repred_mode: str = _help("how predicted hints are fed back: soft, hard or "
                                  "hard_on_eval", default="soft")
    nb_msg_passing_steps: int = _help("processor applications per step", default=1)
    use_lstm: bool = _help("an LSTM after the processor", default=False)
    dropout: float = _help("dropout on the new node states while training", default=0.0)
    encoder_init: str = _help("default or xavier_on_scalars", default="xavier_on_scalars")
    # Sinkhorn normalisation of permutation pointers: in the decoder (with
    # Gumbel noise while training), when a predicted permutation hint is fed
    # back, and when predictions are made hard for scoring.
    sinkhorn_temperature: float = _help("temperature of Sinkhorn normalisation", default=0.1)
    sinkhorn_steps: int = _help("Sinkhorn iterations in permutation decoders", default=10)
    sinkhorn_noise: bool = _help("Gumbel noise in permutation decoders while training",
                                 default=True)
    hint_sinkhorn_steps: int = _help("Sinkhorn iterations on fed-back permutation hints",
                                     default=25)
    predict_sinkhorn_steps: int = _help("Sinkhorn iterations on hard predictions", default=50)

    @property
    def encode_hints(self) -> bool:
        return self.hint_mode == "encoded_decoded"

    @property
    def decode_hints(self) -> bool:
        return self.hint_mode in ("encoded_decoded", "decoded_only")

    def validate(self) -> "ModelConfig":
        def bad(what):
            raise ValueError(f"ModelConfig: {what}")

        h = self.hidden_size
        if isinstance(h, bool) or not isinstance(h, int) or h < 1:
            bad(f"hidden_size must be a positive integer, got {h!r}")
        # The registry is read only here (it needs torch), and read live:
        # processors registered by the user count.
        from .processors import check_processor

        try:
            check_processor(self.processor, self.processor_options)
        except ValueError as e:
            bad(str(e))
        # these are ModelConfig's own fields, passed to every processor by the model
        twice = sorted(set(self.processor_options) & {"use_ln", "nb_triplet_fts", "nb_heads"})
        if twice:
            bad(f"processor_options {twice} are ModelConfig fields: set "
                f"{', '.join(f'{k}=' for k in twice)} instead")
        for name, value, allowed in [("hint_mode", self.hint_mode, HINT_MODES),
                                     ("hint_repred_mode", self.hint_repred_mode, REPRED_MODES),
                                     ("encoder_init", self.encoder_init, ENCODER_INITS)]:
            if value not in allowed:
                bad(f"{name} must be one of {allowed}, got {value!r}")
        if not 0.0 <= self.hint_teacher_forcing <= 1.0:
            bad(f"hint_teacher_forcing must be in [0, 1], got {self.hint_teacher_forcing}")
        if not 0.0 <= self.dropout < 1.0:
            bad(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("nb_msg_passing_steps", "sinkhorn_steps", "hint_sinkhorn_steps",
                     "predict_sinkhorn_steps", "nb_triplet_fts", "nb_heads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                bad(f"{name} must be a positive integer, got {value!r}")
        if not self.sinkhorn_temperature > 0:
            bad(f"sinkhorn_temperature must be positive, got {self.sinkhorn_temperature}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
