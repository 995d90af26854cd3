"""The test suite itself refuses to reach the internet."""

from __future__ import annotations

import socket

import pytest


def test_outside_addresses_fail_loudly() -> None:
    with pytest.raises(RuntimeError, match="network"):
        socket.getaddrinfo("api.telegram.org", 443)
    sock = socket.socket()
    try:
        with pytest.raises(RuntimeError, match="network"):
            sock.connect(("149.154.167.220", 443))
    finally:
        sock.close()
