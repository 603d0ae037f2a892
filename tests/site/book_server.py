"""A local web server for the built book, as the browser test sees it.

It serves ``_build/html`` on 127.0.0.1 from a background thread. The published pages load MathJax
and plotly.js from CDNs, which the test machines cannot reach, so HTML responses have those
addresses replaced by ``/__mathjax__/`` and ``/__plotly__/``, served from pinned local copies of the
same releases: MathJax 3 from npm, and plotly.js from the ``plotly`` package that wrote the pages
(the CDN address names that package's plotly.js version, and the page checks the file's hash).
"""

from __future__ import annotations

import functools
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/"
MATHJAX_LOCAL = "/__mathjax__/"
PLOTLY_CDN = re.compile(rb"https://cdn\.plot\.ly/plotly-[0-9.]+\.min\.js")
PLOTLY_LOCAL = "/__plotly__/plotly.min.js"


def plotly_js() -> Path:
    """The plotly.js bundled with the installed ``plotly`` package (the version it writes)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


class BookHandler(SimpleHTTPRequestHandler):
    """Serve the site, with MathJax from ``mathjax_dir``, plotly.js from the installed package,
    and HTML rewritten to point there."""

    def __init__(self, *args, site: Path, mathjax_dir: Path, **kwargs):
        self.mathjax_dir = mathjax_dir
        super().__init__(*args, directory=str(site), **kwargs)

    def translate_path(self, path: str) -> str:
        if path.split("?", 1)[0] == PLOTLY_LOCAL:
            return str(plotly_js())
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
        body = PLOTLY_CDN.sub(PLOTLY_LOCAL.encode(), body)
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
