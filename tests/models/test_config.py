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
