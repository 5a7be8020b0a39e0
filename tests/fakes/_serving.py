"""What every fake server shares: serving in a daemon thread, and `with` support."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Self


class ServedInThread:
    """Start/stop for a fake whose `_server` is a ThreadingHTTPServer on 127.0.0.1."""

    _server: ThreadingHTTPServer
    _thread: threading.Thread | None

    @property
    def port(self) -> int:
        """The TCP port the server is bound to (chosen by the OS)."""
        return int(self._server.server_address[1])

    def start(self) -> Self:
        """Serve requests in a daemon thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
