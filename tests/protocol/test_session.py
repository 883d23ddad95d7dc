"""The session contract: the transition tables are the diagrams in the docstrings, and the shared
bookkeeping (dispatch, sequence numbers, the closing handshake) behaves the same in every dialect."""

from __future__ import annotations

import re
from types import ModuleType

import pytest

from protocol import genesys, live, simple
from protocol.actions import CloseConnection, SendMessage
from protocol.errors import ProtocolError
from protocol.genesys import GenesysSession
from protocol.live import LiveSession
from protocol.session import Sequences, Session, describe_transitions
from protocol.simple import SimpleSession

DIALECTS = [simple, genesys, live]


@pytest.mark.parametrize("module", DIALECTS, ids=lambda m: m.__name__)
def test_docstring_diagram_is_the_table(module: ModuleType) -> None:
    documented = re.findall(r"^    (\S+ --\w+--> \S+)$", module.__doc__ or "", re.MULTILINE)
    assert documented == describe_transitions(module.TRANSITIONS)


def test_every_dialect_keeps_the_contract() -> None:
    sessions: list[Session] = [SimpleSession(), GenesysSession(), LiveSession("s")]
    assert [s.dialect for s in sessions] == ["simple", "genesys", "live"]
    for session in sessions:
        assert session.seconds_received == 0.0
        assert session.closed() == []  # not closing: nothing to confirm


def test_sequences_number_server_messages_and_check_the_client() -> None:
    seq = Sequences()
    assert seq.server_message("pong", "id", {})["seq"] == 1
    seq.accept_client_seq(1, required=True)
    with pytest.raises(ProtocolError, match="'seq' must be 2, got 4"):
        seq.accept_client_seq(4, required=True)
    with pytest.raises(ProtocolError, match="'seq' is required"):
        seq.accept_client_seq(None, required=True)
    seq.accept_client_seq(None, required=False)
    assert seq.server_message("event", "id", {})["clientseq"] == 1
    with pytest.raises(ProtocolError, match="ahead of the last server message"):
        seq.check_serverseq(3, required=False)


def test_closing_handshake_is_shared() -> None:
    for session, close in (
        (SimpleSession(), '{"type": "close", "id": "x", "seq": 2}'),
        (LiveSession("x"), '{"type": "close"}'),
    ):
        if isinstance(session, SimpleSession):
            session.receive_text('{"type": "open", "id": "x", "seq": 1}')
        session.receive_text(close)
        actions = session.closed()
        assert isinstance(actions[0], SendMessage) and actions[0].message["type"] == "closed"
        assert actions[1] == CloseConnection(1000, "session closed")
        assert session.closed() == []
