"""A local HTTP server for the download tests (127.0.0.1, a free port): serves bytes from a dict, honours
``Range: bytes=N-`` (and ``If-Range`` with the file's ETag, as S3 and most servers do), and can cut a transfer
halfway, answer 404, ignore Range, send no ETag, or go slowly."""
from __future__ import annotations

import hashlib
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple


class FileServer:
    def __init__(self) -> None:
        self.files: Dict[str, bytes] = {}
        self.cuts: Dict[str, int] = {}  # path -> how many more responses to cut halfway
        self.redirects: Dict[str, str] = {}  # path -> where a 302 sends the client
        self.unavailable: Dict[str, int] = {}  # path -> how many more requests get 503
        self.ranges = True  # honour Range requests
        self.etags = True  # send an ETag (the content's hash) and honour If-Range
        self.delay_s = 0.0  # pause between blocks (to make two clients overlap)
        self.requests: List[Tuple[str, Optional[str]]] = []  # (path, Range header)
        self.if_ranges: List[Optional[str]] = []  # the If-Range header of each request
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                server.if_ranges.append(self.headers.get("If-Range"))
                if server.unavailable.get(self.path, 0) > 0:
                    server.unavailable[self.path] -= 1
                    self.send_error(503)
                    return
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                etag = server.etag(self.path)
                match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
                if_range = self.headers.get("If-Range")
                if match and server.etags and if_range is not None and if_range != etag:
                    match = None  # the file changed since the client's copy began: send it whole (RFC 9110)
                if match and server.ranges:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                if server.etags:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cuts.get(self.path, 0) > 0:
                    server.cuts[self.path] -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                for i in range(0, len(body), 4096):
                    self.wfile.write(body[i:i + 4096])
                    if server.delay_s:
                        time.sleep(server.delay_s)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def etag(self, path: str) -> str:
        """The ETag the server sends for ``path``'s current bytes."""
        return f'"{hashlib.sha1(self.files[path]).hexdigest()[:16]}"'

    def gets(self, path: str) -> List[Optional[str]]:
        """The Range headers of the requests for ``path`` (None: a request for the whole file)."""
        return [rng for p, rng in self.requests if p == path]

    def __enter__(self) -> "FileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
