"""A TCP relay between an agent and its broker that the benchmark can cut: `down()` closes every
relayed connection and the listening socket (the agent's connects are refused, as when the broker
is gone), `up()` listens again on the same port. Other clients talk to the broker directly and
never see the outage, so nothing they subscribed to is lost while the agent is cut off."""

import selectors
import socket
import threading


class Relay:
    def __init__(self, broker_port, host="127.0.0.1"):
        self.broker = (host, broker_port)
        self.host = host
        self.port = None
        self._listener = None
        self._pairs = {}
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._stop = False
        self._thread = None

    def start(self):
        self.up()
        self._thread = threading.Thread(target=self._run, name="relay", daemon=True)
        self._thread.start()
        return self

    def up(self):
        """Listens (again) on the relay's port."""
        with self._lock:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port or 0))
            listener.listen(16)
            listener.setblocking(False)
            self.port = listener.getsockname()[1]
            self._listener = listener
            self._selector.register(listener, selectors.EVENT_READ, None)

    def down(self):
        """Closes the listener and every relayed connection: the broker is gone, for the agent."""
        with self._lock:
            if self._listener is not None:
                self._selector.unregister(self._listener)
                self._listener.close()
                self._listener = None
            for sock in list(self._pairs):
                self._close(sock)

    def close(self):
        self._stop = True
        self.down()
        if self._thread:
            self._thread.join(2)

    def _close(self, sock):
        peer = self._pairs.pop(sock, None)
        for s in (sock, peer):
            if s is None:
                continue
            try:
                self._selector.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
        if peer is not None:
            self._pairs.pop(peer, None)

    def _run(self):
        while not self._stop:
            events = self._selector.select(0.1)
            with self._lock:
                for key, _ in events:
                    sock = key.fileobj
                    if sock is self._listener:
                        try:
                            client, _ = sock.accept()
                        except OSError:
                            continue
                        upstream = socket.create_connection(self.broker)
                        for s in (client, upstream):
                            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                            s.setblocking(True)
                        self._pairs[client] = upstream
                        self._pairs[upstream] = client
                        self._selector.register(client, selectors.EVENT_READ, None)
                        self._selector.register(upstream, selectors.EVENT_READ, None)
                        continue
                    if sock not in self._pairs:
                        continue
                    try:
                        data = sock.recv(262144)
                    except OSError:
                        data = b""
                    if not data:
                        self._close(sock)
                        continue
                    try:
                        self._pairs[sock].sendall(data)
                    except OSError:
                        self._close(sock)
