"""Serves the shopping cart on $HOST:$PORT (default 127.0.0.1:8080) for actorstate-proxy."""
import logging
import os
from concurrent import futures

import grpc

from cloudstate.cloudstate import CloudState
from cloudstate.discovery_servicer import CloudStateEntityDiscoveryServicer
from cloudstate.entity_pb2_grpc import add_EntityDiscoveryServicer_to_server
from cloudstate.evensourced_servicer import CloudStateEventSourcedServicer
from cloudstate.event_sourced_pb2_grpc import add_EventSourcedServicer_to_server

from shopping_cart.cart import entity as cart_entity


class Server(CloudState):
    """CloudState with a larger thread pool; everything else as CloudState.start() of cloudstate 0.1.1.

    The library serves with a pool of 10 threads, and every active entity holds one for the life of its stream
    (until the proxy passivates it), so an 11th active cart would wait for a free thread and its commands would
    time out. Here the pool has $CLOUDSTATE_MAX_WORKERS threads (default 1000, started only as needed).
    """

    def start(self):
        workers = int(os.environ.get("CLOUDSTATE_MAX_WORKERS", "1000"))
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
        add_EntityDiscoveryServicer_to_server(CloudStateEntityDiscoveryServicer(self.event_sourced_entities), server)
        add_EventSourcedServicer_to_server(CloudStateEventSourcedServicer(self.event_sourced_entities), server)
        address = os.environ.get("HOST", "127.0.0.1") + ":" + os.environ.get("PORT", "8080")
        server.add_insecure_port(address)
        logging.info("serving the shopping cart on %s (%d threads at most)", address, workers)
        server.start()
        server.wait_for_termination()


def main():
    logging.basicConfig(level=logging.INFO)
    Server().register_event_sourced_entity(cart_entity).start()


if __name__ == "__main__":
    main()
