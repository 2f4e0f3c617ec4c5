// Why a module, and why this name.
//
// CAF 0.17.6 computes a node id once, in `io::middleman::init` (libcaf_io/src/io/middleman.cpp), as
// `node_id::default_data::local(cfg)`: RIPEMD-160 over the MAC addresses of the interfaces that have an IPv4 address
// and the root file system's UUID from /etc/fstab, the last byte replaced by a per-process counter of actor systems,
// plus `getpid()` (libcaf_core/src/node_id.cpp). No configuration key, hook or random input takes part, so two
// processes with the same interfaces, the same /etc/fstab and the same pid get the same id: sidecar containers that
// share a network namespace (both pid 1), or the first container on two Docker hosts' default bridges. A connection
// between them is taken for a connection to self (BASP closes it; `connect` answers with an actor of the *dialing*
// node when one has the peer's actor id, or with none). A restarted pid-1 container would also come back with its
// previous incarnation's id.
//
// The id lives in `actor_system::node_`, which is private; `actor_system` befriends `io::middleman` and
// `net::middleman`. `net::middleman` is the 0.18 network manager: CAF 0.17.6 declares it (caf/fwd.hpp) and reserves
// its module slot (`module::network_manager`) but neither defines nor loads it, and Debian ships no libcaf_net. So
// this file defines it, as a module in that slot. Modules are initialized in slot order, after the middleman (which
// sets the id) and before the actor system spawns its first actor (every actor records the node id it was spawned
// on), so replacing the id in `init` gives every actor, proxy and BASP handshake the new one.
//
// The new id: 20 random bytes (from the OS's generator) and the real pid. Nothing in CAF 0.17.6 reads meaning into
// the host part (it is only compared and printed). Bound to 0.17.6: a CAF that defines `net::middleman` itself would
// collide with this class, hence the version check.
#include "node_identity.hpp"

#include <algorithm>
#include <random>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/config.hpp>
#include <caf/node_id.hpp>

static_assert(CAF_VERSION == 1706,
              "node_identity.cpp relies on CAF 0.17.6's unused net::middleman slot; re-check it for this CAF version "
              "(0.18 and later have a network manager of their own)");

namespace caf::net {

class middleman : public actor_system::module {
public:
  explicit middleman(actor_system& sys) : sys_(sys) {}

  void start() override {}
  void stop() override {}

  void init(actor_system_config&) override {
    std::random_device entropy;
    node_id::default_data::host_id_type host;
    do {
      for (auto& byte : host)
        byte = static_cast<uint8_t>(entropy());
    } while (!node_id::default_data::valid(host));  // All zeros is CAF's "invalid" id: draw again.
    auto pid = 0u;
    if (auto* old = dynamic_cast<const node_id::default_data*>(sys_.node_.operator->()))
      pid = old->process_id();
    auto fresh = make_node_id(pid != 0 ? pid : 1u, host);
    sys_.node_.swap(fresh);
  }

  id_t id() const override { return network_manager; }
  void* subtype_ptr() override { return this; }

private:
  actor_system& sys_;
};

}  // namespace caf::net

namespace actorstate::cluster::detail {

void load_node_identity(caf::actor_system_config& cfg) {
  cfg.module_factories.push_back(
      [](caf::actor_system& sys) -> caf::actor_system::module* { return new caf::net::middleman(sys); });
}

bool has_random_node_id(const caf::actor_system& sys) {
  return sys.has_network_manager();
}

}  // namespace actorstate::cluster::detail
