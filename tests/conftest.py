import pytest


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread (and do not fight other jobs);
    modules that train them use it through ``pytestmark``."""
    import torch  # the trace engine's tests do not need it

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
