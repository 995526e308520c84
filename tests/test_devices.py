import pytest

torch = pytest.importorskip("torch")

from openclrs.devices import check_device  # noqa: E402


def test_devices():
    assert check_device("cpu") == "cpu"
    for name in ("foo", "cuda:x", "", "cuda:-1"):
        with pytest.raises(ValueError, match="not a device"):
            check_device(name, "device (--device)")
    with pytest.raises(ValueError, match="runs on cpu, cuda or mps"):
        check_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available.*--device cpu"):
            check_device("cuda:0")
    else:
        with pytest.raises(ValueError, match="CUDA device"):
            check_device(f"cuda:{torch.cuda.device_count()}")
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match="MPS is not available"):
            check_device("mps")
