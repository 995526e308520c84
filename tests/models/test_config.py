"""ModelConfig is plain data: importable, and usable, without torch."""

import dataclasses
import subprocess
import sys


def test_model_config_imports_without_torch():
    code = ("import sys\n"
            "from openclrs.models.config import ModelConfig\n"
            "config = ModelConfig(hidden_size=16)\n"
            "assert config.to_dict()['hidden_size'] == 16\n"
            "assert 'torch' not in sys.modules, 'openclrs.models.config imported torch'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_model_config_is_reexported_and_documented():
    from openclrs.models import config, model

    assert model.ModelConfig is config.ModelConfig
    for f in dataclasses.fields(config.ModelConfig):
        assert f.metadata.get("help"), f"{f.name} has no help text"


def test_processor_options_are_checked_against_the_processor():
    import pytest

    from openclrs.models.config import ModelConfig
    from openclrs.models.processors import PROCESSORS, make_processor

    with pytest.raises(ValueError, match="processor 'triplet_gmpnn' has no option 'foo'"):
        ModelConfig(processor_options={"foo": 1}).validate()
    with pytest.raises(ValueError, match="did you mean 'triplet_gmpnn'"):
        ModelConfig(processor="triplet_gmpn").validate()
    ModelConfig(processor="pgn", processor_options={"reduction": "mean"}).validate()
    with pytest.raises(ValueError, match="has no option 'gated'"):  # the kind decides that
        make_processor("gmpnn", 8, gated=False)
    for name in PROCESSORS:  # every published kind takes the three factory options
        make_processor(name, 8, use_ln=True, nb_triplet_fts=4, nb_heads=1)
