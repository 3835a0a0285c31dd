"""SMTP delivery: handing the ledger's messages to the relays of `SMTP_URL`.

- `sending.py`: sends one batch of ledger rows over one connection and records each outcome.
- `transports.py`: the one I/O boundary, a transport that opens a connection and sends
  messages over it: SMTP for real, a folder of `.eml` files for demos and tests.
- `relays.py`: several relays with failover, and each relay's send rate and connection
  slots, shared by every worker through Redis.
- `notices.py`: writes a reader's confirmation or manage email to the `notices` outbox and
  sends it from there by id, once; the tick's part sends those whose message was lost.

The relays themselves, and the one name each goes by, come from `alerts.config.parse_relays`.
The public names of the transports and the relays are here; each module's docstring says
why it works the way it does.
"""

from alerts.delivery.relays import (
    SLOT_LEASE_SECONDS,
    SLOT_WAIT_SECONDS,
    ConnectionCappedTransport,
    ConnectionSlots,
    FailoverTransport,
    LocalConnectionSlots,
    LocalSendBudget,
    RateLimitedTransport,
    RedisConnectionSlots,
    RedisSendBudget,
    SendBudget,
    relay_transport,
)
from alerts.delivery.transports import (
    SMTP_TIMEOUT_SECONDS,
    FileTransport,
    MailConnection,
    SMTPTransport,
    Transport,
    tls_context,
    transport_for,
    transport_from_url,
)

__all__ = [
    "SLOT_LEASE_SECONDS",
    "SLOT_WAIT_SECONDS",
    "SMTP_TIMEOUT_SECONDS",
    "ConnectionCappedTransport",
    "ConnectionSlots",
    "FailoverTransport",
    "FileTransport",
    "LocalConnectionSlots",
    "LocalSendBudget",
    "MailConnection",
    "RateLimitedTransport",
    "RedisConnectionSlots",
    "RedisSendBudget",
    "SMTPTransport",
    "SendBudget",
    "Transport",
    "relay_transport",
    "tls_context",
    "transport_for",
    "transport_from_url",
]
