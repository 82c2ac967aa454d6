"""A hostile Hub on 127.0.0.1: it echoes the credential back, or sends terminal escapes.

The repo name picks the answer to every request under it:

* ``org/echo-403``, ``org/echo-404``, ``org/echo-500``: that status, with the request's
  ``Authorization`` value echoed in ``X-Error-Message`` twice (as sent, and without its
  ``Bearer`` prefix) and in ``X-Request-Id``;
* ``org/escape``: a 500 whose ``X-Error-Message`` retitles and recolours a terminal
  (``ESCAPE_MESSAGE``).

A plain ``http.server`` on a thread, so the CLI (a subprocess) and the library can be
pointed at it alike.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ESCAPE_MESSAGE = "\x1b]0;PWNED\x07\x1b[31mred alert\x9b2J\x7f\x1b[0m"
_PATH = re.compile(r"^/org/(?P<name>[^/]+)/resolve/")


class _Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        match = _PATH.match(self.path)
        name = match.group("name") if match else ""
        credential = self.headers.get("Authorization", "")
        bare = credential.removeprefix("Bearer ")
        if name == "escape":
            status, message, request_id = 500, ESCAPE_MESSAGE, "\x1b[2Jid"
        elif name.startswith("echo-") and name[5:].isdigit():
            status = int(name[5:])
            message = f"Invalid credentials in Authorization header: {credential} ({bare})"
            request_id = bare
        else:
            status, message, request_id = 404, "no such repo", "r"
        self.send_response(status)
        self.send_header("X-Error-Message", message)
        self.send_header("X-Request-Id", request_id)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = _answer
    do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the suite's captured output stays free of what the client sent."""


@contextmanager
def echoing_hub() -> Iterator[str]:
    """Serve until the block ends; yields the endpoint (``http://127.0.0.1:<port>``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
