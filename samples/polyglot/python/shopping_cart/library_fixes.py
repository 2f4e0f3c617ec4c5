"""Two fixes to cloudstate 0.1.1 (the newest Cloudstate Python support library on PyPI), applied on import.

Both are bugs of the library itself, seen against any Cloudstate 0.2 proxy; each patch is as small as the bug:

1. A failure's description is sent as str() of the list of failure messages: ctx.fail("Item p9 not in cart") reaches
   the client as "['Item p9 not in cart']" (contexts.ClientActionContext.create_client_action). The patch sends the
   messages themselves, one per line (a handler here fails at most once, so exactly the message).
2. An entity started from a snapshot crashes: evensourced_servicer.handle() reads the snapshot with
   get_payload(init.snapshot.snapshot), but get_payload() expects a message with a .payload field and gets the
   google.protobuf.Any itself ("AttributeError: 'Any' object has no attribute 'payload'"), so the entity cannot be
   activated again once a snapshot exists. The patch lets get_payload() take the Any too.

Not patched (it takes no client-visible effect): the library never advances its sequence counter after a command's
own events, only after replayed ones, so `snapshot_every` does not mean "every N events": an activation that replayed
no events never snapshots, and one that replayed k events with (k + 1) % N == 0 snapshots after every command.
"""
from google.protobuf.any_pb2 import Any

from cloudstate import contexts, evensourced_servicer

_create_client_action = contexts.ClientActionContext.create_client_action


def _create_client_action_with_plain_failure(self, result, allow_reply):
    action = _create_client_action(self, result, allow_reply)
    if action is not None and action.HasField("failure"):
        action.failure.description = "\n".join(self.errors)
    return action


_get_payload = evensourced_servicer.get_payload


def _get_payload_of_any_too(message):
    if isinstance(message, Any):
        holder = evensourced_servicer.EventSourcedEvent()
        holder.payload.CopyFrom(message)
        message = holder
    return _get_payload(message)


contexts.ClientActionContext.create_client_action = _create_client_action_with_plain_failure
evensourced_servicer.get_payload = _get_payload_of_any_too
