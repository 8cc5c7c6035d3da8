"""Free loopback ports."""

import socket


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (the kernel's choice, released at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
