// The node id `configure_remoting` gives a system: random, so processes that CAF 0.17 would give one id (same MACs,
// same /etc/fstab, same pid) get two; and a peer that has our own id is refused with a message that says so.
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/node_id.hpp>

#include "members.hpp"

namespace actorstate::cluster::test {
namespace {

caf::node_id::default_data::host_id_type host_of(const caf::node_id& nid) {
  auto* data = dynamic_cast<const caf::node_id::default_data*>(nid.operator->());
  REQUIRE(data != nullptr);
  return data->host_id();
}

uint32_t pid_of(const caf::node_id& nid) {
  return dynamic_cast<const caf::node_id::default_data*>(nid.operator->())->process_id();
}

}  // namespace

TEST_CASE("node_identity.two_systems_get_unrelated_random_ids_with_the_real_pid") {
  // CAF's own ids of two systems in one process differ only in the last byte of the host part (a counter).
  caf::actor_system_config plain_cfg1, plain_cfg2;
  plain_cfg1.load<caf::io::middleman>();
  plain_cfg2.load<caf::io::middleman>();
  caf::actor_system plain1{plain_cfg1};
  caf::actor_system plain2{plain_cfg2};
  auto p1 = host_of(plain1.node());
  auto p2 = host_of(plain2.node());
  CHECK(std::equal(p1.begin(), p1.end() - 1, p2.begin()));

  caf::actor_system_config cfg1, cfg2;
  REQUIRE(configure_remoting(cfg1).ok());
  REQUIRE(configure_remoting(cfg2).ok());
  caf::actor_system sys1{cfg1};
  caf::actor_system sys2{cfg2};
  auto h1 = host_of(sys1.node());
  auto h2 = host_of(sys2.node());
  CHECK(sys1.node() != sys2.node());
  // Random: they share no prefix with each other or with CAF's hash (a chance of 2^-64 to fail).
  CHECK_FALSE(std::equal(h1.begin(), h1.begin() + 8, h2.begin()));
  CHECK_FALSE(std::equal(h1.begin(), h1.begin() + 8, p1.begin()));
  CHECK(pid_of(sys1.node()) == static_cast<uint32_t>(::getpid()));
  // Every actor carries the new id: the module replaced it before the first spawn.
  auto a = sys1.spawn([] { return caf::behavior{[](int x) { return x; }}; });
  CHECK(a.node() == sys1.node());
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

TEST_CASE("node_identity.a_peer_with_this_nodes_own_id_is_refused_with_the_reason") {
  // Dialing our own port is what a peer with our node id looks like to BASP: the handshake names this node.
  std::atomic<int> arrived{0};
  auto opts = echo_member();
  auto echo = opts.inbound;
  opts.inbound = [&](cluster_call c, std::function<void(command_result)> reply) {
    ++arrived;
    echo(std::move(c), std::move(reply));
  };
  member a{opts};
  auto got = std::make_shared<outcomes>();
  a.net().call(a.address(), make_call("x"), clock::now() + 5s, got->done());
  REQUIRE(got->wait(1));
  auto r = got->at(0);
  CHECK(r.status.code() == status_code::unavailable);
  CHECK(r.status.message().find("own CAF node id") != std::string::npos);
  CHECK(arrived.load() == 0);
}

}  // namespace actorstate::cluster::test
