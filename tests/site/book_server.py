"""A local web server for the built book, as the browser test sees it.

It serves ``_build/html`` on 127.0.0.1 from a background thread. The published pages load MathJax
from a CDN, which the test machines cannot reach, so HTML responses have that one address replaced
by ``/__mathjax__/``, served from a pinned local copy of the same MathJax 3 release.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/"
MATHJAX_LOCAL = "/__mathjax__/"


class BookHandler(SimpleHTTPRequestHandler):
    """Serve the site, with MathJax from ``mathjax_dir`` and HTML rewritten to point there."""

    def __init__(self, *args, site: Path, mathjax_dir: Path, **kwargs):
        self.mathjax_dir = mathjax_dir
        super().__init__(*args, directory=str(site), **kwargs)

    def translate_path(self, path: str) -> str:
        if path.startswith(MATHJAX_LOCAL):
            relative = path[len(MATHJAX_LOCAL):].split("?", 1)[0]
            return str(self.mathjax_dir / relative)
        return super().translate_path(path)

    def do_GET(self) -> None:
        if self.path == "/favicon.ico":  # the book has no icon; the browser asks anyway
            self.send_response(204)
            self.end_headers()
            return
        local = Path(self.translate_path(self.path))
        if local.suffix != ".html" or not local.is_file():
            super().do_GET()
            return
        body = local.read_bytes().replace(MATHJAX_CDN.encode(), MATHJAX_LOCAL.encode())
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        """Keep the test output quiet."""


def serve(site: Path, mathjax_dir: Path) -> tuple[ThreadingHTTPServer, str]:
    """Start serving ``site`` on a free port; returns the server and its base URL."""
    handler = functools.partial(BookHandler, site=site, mathjax_dir=mathjax_dir)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"
