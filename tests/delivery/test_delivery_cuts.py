"""Where a connection breaks decides what the relay may hold: SmtpSession says which side of
the end-of-data (the final dot) it broke on, against a real relay that cuts on cue.

Before the dot a relay has accepted nothing (MailConnectionLost: send it again); after it the
mail may have been delivered (MailOutcomeUnknown: never send it again).
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from cutting_relay import CuttingRelay

from closedloop.daemon.delivery.smtp import (
    MailAbandoned,
    MailConnectionLost,
    MailError,
    MailOutcomeUnknown,
    MailTemporaryError,
    MailUnavailable,
    SmtpSender,
)

# Far more than the kernel can buffer between the two ends (a 4 MiB send buffer plus the
# relay's receive window), so the relay's reset reaches us while the payload is being sent.
BIG = 16 * 1024 * 1024


def message(size: int = 0) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "feedback@acme.example"
    msg["To"] = "ana@example.com"
    msg["Subject"] = "How did we do?"
    msg["Message-ID"] = "<cut@acme.example>"
    line = "x" * 75 + "\n"
    msg.set_content(".leading dot\n" + line * (size // len(line)))
    return msg


@pytest.mark.parametrize(("cut", "size", "error", "delivered"), [
    ("connect", 0, MailUnavailable, 0),
    ("mail", 0, MailConnectionLost, 0),
    ("payload", BIG, MailConnectionLost, 0),
    ("end_of_data", 0, MailOutcomeUnknown, 1),
])
def test_each_cut_point_says_what_the_relay_may_hold(
        cut: str, size: int, error: type[MailError], delivered: int) -> None:
    """connect / after MAIL / mid-payload: a temporary error, nothing at the relay; after the
    final dot: outcome unknown (a permanent-looking error would lose the mail, a temporary
    one would send it twice), and the relay does hold it."""
    with CuttingRelay([cut]) as relay, \
            SmtpSender("127.0.0.1", relay.port, timeout=10).session() as session:
        with pytest.raises(MailError) as caught:
            session.send(message(size))
        assert (type(caught.value), len(relay.delivered)) == (error, delivered)
        assert isinstance(caught.value, MailTemporaryError) == (cut != "end_of_data")


def test_a_relay_that_hung_up_during_a_small_payload_gets_no_dot() -> None:
    """A small message sits whole in the socket buffers, so the send cannot fail; but the
    relay hung up before our end of data (here: we wait until it has), so the dot is not
    sent and the mail is retried (MailConnectionLost), not counted as unknown."""
    with CuttingRelay(["payload"], payload_cut_after=100) as relay, \
            SmtpSender("127.0.0.1", relay.port, timeout=10).session() as session:
        with pytest.raises(MailConnectionLost, match="relay hung up"):
            session.send(message(), lambda: relay.cut_done.wait(10))
        assert relay.delivered == []


def test_after_a_cut_the_next_mail_opens_a_new_connection_and_arrives() -> None:
    """A session whose connection broke mid-payload goes on: the next mail reconnects."""
    with CuttingRelay(["payload"]) as relay, \
            SmtpSender("127.0.0.1", relay.port, timeout=10).session() as session:
        with pytest.raises(MailConnectionLost):
            session.send(message(BIG))
        session.send(message())
        assert (relay.connections, len(relay.delivered)) == (2, 1)
        assert relay.delivered[0].count(b"\r\n.leading dot\r\n") == 1  # unstuffed intact


def test_a_refused_end_of_data_drops_the_message_at_the_relay() -> None:
    """`before_end_of_data` saying no (the row was taken from us) closes the connection
    without the dot: the relay discards the message; saying yes delivers it."""
    with CuttingRelay() as relay, \
            SmtpSender("127.0.0.1", relay.port, timeout=10).session() as session:
        asked: list[str] = []

        def refuse() -> bool:
            asked.append("refuse")
            return False

        with pytest.raises(MailAbandoned):
            session.send(message(), refuse)
        assert relay.delivered == []
        session.send(message(), lambda: asked.append("allow") is None)
        assert (asked, len(relay.delivered)) == (["refuse", "allow"], 1)


def test_a_failing_end_of_data_hook_drops_the_message_and_the_session_goes_on() -> None:
    """The hook raising (the store is down) propagates, the relay gets no dot (the message
    is discarded) and no QUIT inside DATA; the next mail opens a new connection."""
    with CuttingRelay() as relay, \
            SmtpSender("127.0.0.1", relay.port, timeout=10).session() as session:

        def store_down() -> bool:
            raise ConnectionError("state database unreachable")

        with pytest.raises(ConnectionError):
            session.send(message(), store_down)
        assert relay.hung_up.wait(10)  # dropped at once, not left hanging inside DATA
        session.send(message())
        assert (relay.connections, len(relay.delivered)) == (2, 1)
        assert b"QUIT" not in relay.delivered[0]
