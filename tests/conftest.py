"""Shared fixtures. Every test runs with the network blocked (loopback allowed)."""
import os
import socket
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
warnings.filterwarnings("ignore", message=".*standard_1020.*", category=FutureWarning)

SHARED_MNE_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mne_data"

_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo
_LOCAL = ("localhost", "127.0.0.1", "::1", "")


class NetworkBlocked(OSError):
    pass


def _guard_getaddrinfo(host, *args, **kwargs):
    if host not in _LOCAL and not str(host).startswith("127."):
        raise NetworkBlocked(f"tests must not reach the network (lookup of {host!r})")
    return _real_getaddrinfo(host, *args, **kwargs)


def _guard_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host not in _LOCAL and not host.startswith("127.") \
            and self.family in (socket.AF_INET, socket.AF_INET6):
        raise NetworkBlocked(f"tests must not reach the network (connect to {address!r})")
    return _real_connect(self, address)


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    socket.getaddrinfo = _guard_getaddrinfo
    socket.socket.connect = _guard_connect
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield
    socket.getaddrinfo = _real_getaddrinfo
    socket.socket.connect = _real_connect


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="session")
def sim_spectral():
    """The default simulated dataset (both sessions, 2 x 288 trials)."""
    from neuroxai.data import simulate_bcic_iv_2a
    from neuroxai.models.train import DEFAULT_RECIPE

    return simulate_bcic_iv_2a(**DEFAULT_RECIPE["data"])


@pytest.fixture(scope="session")
def shipped_model():
    from neuroxai.models import load_pretrained

    model, history, meta = load_pretrained()
    return model, history, meta


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def shared_mne_data():
    """The real EEGMMIDB recording in ../shared (skips with the reason when absent)."""
    if not SHARED_MNE_DATA.is_dir():
        pytest.skip(f"real EEG not available: {SHARED_MNE_DATA} is absent "
                    "(../shared not checked out)")
    return SHARED_MNE_DATA


@pytest.fixture(scope="module")
def one_thread():
    """One torch intra-op thread for a module: tiny tensors on a shared 2-core machine only
    contend with more."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
