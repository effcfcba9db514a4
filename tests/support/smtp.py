"""A real SMTP server for the tests (aiosmtpd), keeping every message it receives.

The app delivers through Django's SMTP backend to it, as production does to its relay. The
server answers the end of DATA only after the handler has stored the message, so by the time
``send_mail`` returns the message is in ``messages``: no waiting, no polling.
"""

from __future__ import annotations

import email
import re
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.etcd import free_port

URL = re.compile(r"https?://\S+")


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def start(self) -> Mailbox:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def link(self, address: str, path: str) -> str:
        """The only link to ``path`` in the one message sent to ``address``."""
        (message,) = self.to(address)
        body = message.get_body(("plain",))
        assert body is not None
        links = [u for u in URL.findall(body.get_content()) if f"/{path}/" in u]
        assert len(links) == 1, links
        return str(links[0])
