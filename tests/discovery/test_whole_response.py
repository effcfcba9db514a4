"""Each app server response leaves in one send(), so a killed server never half-answers nginx.

Checked on gunicorn's own Response machinery with a socket that records what is sent: a page is
one send() holding status line, headers and body; chunked and bodiless responses stay well formed.
"""

from __future__ import annotations

from types import SimpleNamespace

from gunicorn.config import Config

from sampleapp.serve import WholeResponse


class RecordingSocket:
    def __init__(self) -> None:
        self.sends: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.sends.append(bytes(data))


def response(method: str = "GET") -> tuple[WholeResponse, RecordingSocket]:
    request = SimpleNamespace(method=method, version=(1, 1), should_close=lambda: True)
    sock = RecordingSocket()
    return WholeResponse(request, sock, Config()), sock


def test_a_page_is_one_send_with_status_headers_and_body() -> None:
    resp, sock = response()
    resp.start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "11")])
    resp.write(b"<p>hi</p>\r\n")
    resp.close()
    assert len(sock.sends) == 1
    assert sock.sends[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert sock.sends[0].endswith(b"\r\n\r\n<p>hi</p>\r\n")


def test_a_bodiless_response_still_sends_its_headers_once() -> None:
    resp, sock = response("HEAD")
    resp.start_response("200 OK", [("Content-Length", "11")])
    resp.write(b"<p>hi</p>\r\n")
    resp.close()
    assert len(sock.sends) == 1
    assert sock.sends[0].startswith(b"HTTP/1.1 200 OK\r\n") and sock.sends[0].endswith(b"\r\n\r\n")


def test_a_streamed_chunked_response_keeps_its_framing() -> None:
    resp, sock = response()
    resp.start_response("200 OK", [("Content-Type", "text/plain")])
    resp.write(b"ab")
    resp.write(b"c")
    resp.close()
    wire = b"".join(sock.sends)
    head, _, body = wire.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"2\r\nab\r\n1\r\nc\r\n0\r\n\r\n"
