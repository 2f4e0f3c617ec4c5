#include "cluster_node.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actorstate/cluster/member.hpp"
#include "actorstate/cluster/transport.hpp"
#include "actorstate/ops/json.hpp"
#include "actorstate/ops/log.hpp"
#include "actorstate/runtime/lease.hpp"
#include "actorstate/runtime/reply.hpp"
#include "actorstate/runtime/shard_control.hpp"
#include "actorstate/runtime/shard_region.hpp"

namespace actorstate {

namespace {

using namespace std::chrono_literals;

/// How long a forward whose peer could not be dialed waits before it goes back to the local shard: about the time
/// the member takes to notice (a lost peer makes it read the store at once) without spinning on a dead address.
constexpr auto unreachable_retry = 100ms;

/// The first IPv4 address of an interface that is up and not loopback: what other hosts can most likely dial when
/// the node listens on every address. Loopback when there is none (one host, or a namespace without a network).
std::string host_address() {
  ifaddrs* list = nullptr;
  std::string found;
  if (getifaddrs(&list) == 0) {
    for (auto* i = list; i != nullptr && found.empty(); i = i->ifa_next) {
      if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET)
        continue;
      if ((i->ifa_flags & IFF_UP) == 0 || (i->ifa_flags & IFF_LOOPBACK) != 0)
        continue;
      char buf[INET_ADDRSTRLEN];
      auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
      if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf) != nullptr)
        found = buf;
    }
    freeifaddrs(list);
  }
  return found.empty() ? "127.0.0.1" : found;
}

/// The host name plus a random suffix: unique among members started on one host without --node-id.
std::string generated_node_id() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
    std::snprintf(host, sizeof host, "node");
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "-%06x", static_cast<unsigned>(rd()) & 0xffffffu);
  return std::string{host} + suffix;
}

bool binds_everywhere(const std::string& bind) {
  return bind.empty() || bind == "0.0.0.0" || bind == "::" || bind == "[::]";
}

}  // namespace

cluster_node::cluster_node(cluster_settings settings) : settings_(std::move(settings)) {
  hooks_ = std::make_shared<runtime::shard_hooks>();
  lease_ = std::make_shared<runtime::lease>();
  hooks_->member_lease = lease_;
  hooks_->forward = [this](const std::string& address, const std::string& service, command cmd,
                           runtime::reply_to reply) {
    if (!transport_) {
      reply.deliver(command_result::failure(status_code::unavailable, "the cluster transport is not running"));
      return;
    }
    forwarded_.fetch_add(1, std::memory_order_relaxed);
    cluster::cluster_call call;
    call.service = service;
    call.hops = reply.hops();
    // The caller's own deadline when it has one (a call from a client port or from another member); else the
    // command timeout from now.
    auto deadline = std::min(reply.deadline(), cluster::transport::clock::now() + settings_.command_timeout);
    call.cmd = cmd;  // kept for a second attempt when the peer cannot be dialed
    transport_->call(address, std::move(call), deadline,
                     [this, service, cmd = std::move(cmd), reply](command_result r) mutable {
                       if (!r.ok() && cluster::transport::never_sent(r.status)) {
                         // The peer could not be dialed: nothing ran there. Back to the local shard a moment later,
                         // which by then holds the command or knows a new owner (the caller's deadline still rules).
                         auto i = regions_.find(service);
                         if (i != regions_.end() && reply.pending()) {
                           forward_retries_.fetch_add(1, std::memory_order_relaxed);
                           const auto& target = i->second->target(cmd.entity_id);
                           std::move(reply).pass_on_after(target, std::move(cmd), unreachable_retry);
                           return;
                         }
                       }
                       if (!r.ok())
                         forward_failures_.fetch_add(1, std::memory_order_relaxed);
                       reply.deliver(std::move(r));
                     });
  };
  hooks_->fenced = [this](uint32_t index) {
    if (auto* m = live_member_.load(std::memory_order_acquire))
      m->fenced(index);
  };
}

cluster_node::~cluster_node() {
  stop();
}

status cluster_node::configure(caf::actor_system_config& cfg) {
  // When a silent peer is noticed decides two waits. A command forwarded to it just before it went silent fails only
  // then (it may have run there, so its client retries): notice late, and that retry starts late. A command that
  // arrives after the notice is held here until its shard is taken over (the failure timeout and a third after the
  // peer's last renewal): notice early, and it is held long enough for its client to give up on a member that is
  // fine (a client with a 3 s timeout then took both live members out of rotation and waited for the stopped one, 10 s
  // in 2 of 12 runs with a third of the failure timeout). Half the failure timeout (1.5 s by default) keeps both
  // under 3 s. The heartbeat interval is the same on every member, so members with other failure timeouts still hear
  // each other often enough.
  cluster::remoting_options remoting;
  remoting.connection_timeout = std::max(remoting.connection_timeout, settings_.failure_timeout / 2);
  return cluster::configure_remoting(cfg, remoting);
}

std::shared_ptr<const runtime::shard_hooks> cluster_node::hooks() {
  return hooks_;
}

status cluster_node::start(caf::actor_system& sys, persistence::coordination& coordination,
                           std::map<std::string, std::shared_ptr<const runtime::region>> regions,
                           runtime::call_deadlines& deadlines) {
  regions_ = std::move(regions);
  deadlines_ = &deadlines;
  if (settings_.node_id.empty())
    settings_.node_id = generated_node_id();
  if (settings_.advertise_host.empty())
    settings_.advertise_host = binds_everywhere(settings_.bind) ? host_address() : settings_.bind;

  cluster::transport_options topts;
  topts.bind = settings_.bind;
  topts.port = settings_.port;
  topts.inbound = [this](cluster::cluster_call call, std::function<void(command_result)> reply) {
    if (call.service.starts_with(crdt::replica_service_prefix)) {
      if (!settings_.replica_inbound) {
        reply(command_result::failure(status_code::unimplemented, "this member serves no CRDT entity type"));
        return;
      }
      settings_.replica_inbound(call.service.substr(std::string_view{crdt::replica_service_prefix}.size()),
                                std::move(call.cmd.entity_id), std::move(call.cmd.payload),
                                [reply = std::move(reply)](status st) mutable {
                                  reply(st.ok() ? command_result::success({}) : command_result::failure(std::move(st)));
                                });
      return;
    }
    if (call.service.empty()) {
      // Not a command: a member that released a shard this one may claim asks it to read the store now.
      if (auto* m = live_member_.load(std::memory_order_acquire))
        m->reread();
      reply(command_result::success({}));
      return;
    }
    // Counted out once answered, or once the answer is dropped (a token in the reply).
    if (!inbound_calls_.enter()) {
      // Refused unrun, so the sender may send it again through its own shard, which by then routes it to the new
      // owner: a command lost with this member's connection would instead be one the client cannot tell ran or not.
      auto refused = cluster::transport::not_run(address_ + ": the member is shutting down");
      reply(command_result::failure(refused.code(), refused.message()));
      return;
    }
    std::shared_ptr<void> running{nullptr, [this](void*) { inbound_calls_.leave(); }};
    inbound_.fetch_add(1, std::memory_order_relaxed);
    auto answer = [reply = std::move(reply), running = std::move(running)](command_result r) mutable {
      reply(std::move(r));
      running.reset();
    };
    auto i = regions_.find(call.service);
    if (i == regions_.end()) {
      answer(command_result::failure(status_code::unimplemented, "this member does not serve " + call.service +
                                                                     " (members run other entity types?)"));
      return;
    }
    // To the local shard, which runs it, holds it while the shard moves, or forwards it on with the hop counted.
    // (The target first: the command moves into the call, and arguments are evaluated in no fixed order.)
    const auto& target = i->second->target(call.cmd.entity_id);
    deadlines_->call(target, std::move(call.cmd), std::move(answer), call.hops);
  };
  topts.peer_lost = [this](const std::string& peer, const status&) {
    if (auto* m = live_member_.load(std::memory_order_acquire))
      m->peer_lost(peer);
  };
  auto started = cluster::transport::start(sys, std::move(topts));
  if (!started.ok())
    return status{started.error().code(), "cannot open the cluster port " + settings_.bind + ":" +
                                              std::to_string(settings_.port) + ": " + started.error().message()};
  transport_ = std::move(started.value());
  transport_ptr_.store(transport_.get(), std::memory_order_release);
  auto address = settings_.advertise_host;
  if (address.find(':') != std::string::npos && !address.starts_with("["))
    address = "[" + address + "]";
  address += ":" + std::to_string(transport_->port());
  address_ = address;
  log::info("listening on cluster " + settings_.bind + ":" + std::to_string(transport_->port()),
            {{"advertise", address}, {"member", settings_.node_id}});
  // A member whose advertised address leads nowhere would take shards that no other member can forward to: refuse
  // it before it joins. (This checks the address from here; a firewall between hosts is not seen.)
  if (auto reached = cluster::transport::probe(address, std::chrono::seconds{2}); !reached.ok())
    return status{status_code::invalid_argument,
                  "the advertised cluster address " + address + " does not reach this member's cluster port (" +
                      reached.message() +
                      "); set --advertise-host (env POD_IP) to an address of this host the other members can dial"};

  std::vector<std::shared_ptr<const runtime::region>> all;
  for (const auto& [name, region] : regions_)
    all.push_back(region);
  control_ = runtime::make_shard_control(sys, std::move(all));

  cluster::member_options mopts;
  mopts.cluster = settings_.name;
  mopts.id = settings_.node_id;
  mopts.address = address;
  mopts.shards = settings_.shards;
  mopts.failure_timeout = settings_.failure_timeout;
  mopts.lease = lease_;
  mopts.nudge = [this](const std::string& address) {
    if (!transport_)
      return;
    cluster::cluster_call call;  // an empty service: "read the store now"
    transport_->call(address, std::move(call), cluster::transport::clock::now() + std::chrono::seconds{1},
                     [](command_result) {});  // best effort: the next tick reads anyway
  };
  auto joined = cluster::member::start(sys, coordination, *control_, mopts);
  if (!joined.ok())
    return joined.error();
  member_ = std::move(joined.value());
  live_member_.store(member_.get(), std::memory_order_release);
  return {};
}

bool cluster_node::joined() const {
  auto* m = live_member_.load(std::memory_order_acquire);
  return m != nullptr && m->view().joined;
}

status cluster_node::leave(std::chrono::milliseconds within) {
  if (!member_)
    return {};
  return member_->leave(within);
}

void cluster_node::stop(std::chrono::milliseconds drain) {
  inbound_calls_.close();
  inbound_calls_.wait_empty(runtime::drain_gate::clock::now() + drain);
  if (member_)
    member_->stop();
  if (transport_)
    transport_->stop();
}

std::string cluster_node::view_json() const {
  if (!member_)
    return "{\"cluster\":" + ops::json_quoted(settings_.name) + ",\"self\":" + ops::json_quoted(settings_.node_id) +
           ",\"shards\":" + std::to_string(settings_.shards) + ",\"members\":[]}";
  auto v = member_->view();
  std::string out = "{\"cluster\":" + ops::json_quoted(v.cluster) + ",\"self\":" + ops::json_quoted(v.self) +
                    ",\"incarnation\":" + std::to_string(v.incarnation) + ",\"shards\":" + std::to_string(v.shards) +
                    ",\"serving\":" + std::to_string(v.serving) + ",\"members\":[";
  bool first = true;
  for (const auto& m : v.members) {
    if (!first)
      out += ",";
    first = false;
    out += "{\"id\":" + ops::json_quoted(m.id) + ",\"address\":" + ops::json_quoted(m.address) +
           ",\"incarnation\":" + std::to_string(m.incarnation) + ",\"status\":" + ops::json_quoted(m.status) +
           ",\"shards\":" + std::to_string(m.shards) + "}";
  }
  return out + "]}\n";
}

std::string cluster_node::render_metrics() const {
  std::string out;
  auto line = [&](const std::string& name, const std::string& type, const std::string& help, auto value,
                  const std::string& labels = {}) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(value) + "\n";
  };
  line("actorstate_cluster_forwarded_commands_total", "counter", "Commands sent to the shard's owner on another member",
       forwarded_.load());
  line("actorstate_cluster_forward_retries_total", "counter",
       "Forwards whose peer could not be dialed, sent again after the member re-read the store",
       forward_retries_.load());
  line("actorstate_cluster_forward_failures_total", "counter", "Forwarded commands that failed",
       forward_failures_.load());
  line("actorstate_cluster_inbound_commands_total", "counter", "Commands other members forwarded to this one",
       inbound_.load());
  if (!member_)
    return out;
  auto v = member_->view();
  size_t up = 0, leaving = 0, down = 0;
  for (const auto& m : v.members)
    (m.status == "up" ? up : m.status == "leaving" ? leaving : down)++;
  out +=
      "# HELP actorstate_cluster_members Members by status, as this member last read them\n"
      "# TYPE actorstate_cluster_members gauge\n";
  out += "actorstate_cluster_members{status=\"up\"} " + std::to_string(up) + "\n";
  out += "actorstate_cluster_members{status=\"leaving\"} " + std::to_string(leaving) + "\n";
  out += "actorstate_cluster_members{status=\"down\"} " + std::to_string(down) + "\n";
  line("actorstate_cluster_shards_serving", "gauge", "Shards this member serves", v.serving);
  auto c = member_->counters();
  line("actorstate_cluster_shard_claims_total", "counter", "Shards claimed and served here", c.claims);
  line("actorstate_cluster_shard_takeovers_total", "counter", "Shards taken from a member that was not alive",
       c.takeovers);
  line("actorstate_cluster_shard_handovers_total", "counter", "Shards handed over (writes durable, then released)",
       c.handovers);
  line("actorstate_cluster_shard_drops_total", "counter",
       "Shards dropped at once (taken over, lease ran out, incarnation superseded)", c.drops);
  line("actorstate_cluster_self_fences_total", "counter", "Times the lease ran out before a renewal was confirmed",
       c.self_fences);
  line("actorstate_cluster_crashes_confirmed_total", "counter",
       "Peers whose connection closed and whose process the store confirmed gone (shards taken at once)",
       c.crashes_confirmed);
  line("actorstate_cluster_down_members_forgotten_total", "counter",
       "Members down for --failure-timeout x 10 (at least 30 s) whose process the store found gone, then removed",
       c.down_members_forgotten);
  line("actorstate_cluster_last_takeover_seconds", "gauge",
       "The last takeover: from the first reading without a live owner to serving the shard (-1: none yet)",
       c.last_takeover_ms < 0 ? -1.0 : static_cast<double>(c.last_takeover_ms) / 1000.0);
  return out;
}

}  // namespace actorstate

namespace actorstate {

namespace {

/// crdt::replication on the member's view of the store (who is up, at which address and incarnation) and the
/// transport. A replica is named "<member id>#<incarnation>": unique per process, and known to every member that
/// reads the membership, so a Vote counts exactly the live members' votes.
class member_replication final : public crdt::replication {
public:
  member_replication(const std::atomic<cluster::member*>& member, const std::atomic<cluster::transport*>& transport,
                     const std::string& address)
      : member_(member), transport_(transport), address_(address) {}

  std::string self() const override {
    auto* m = member_.load(std::memory_order_acquire);
    if (m == nullptr)
      return {};
    auto v = m->view();
    return v.self + "#" + std::to_string(v.incarnation);
  }

  std::vector<crdt::replica_peer> peers() const override {
    std::vector<crdt::replica_peer> out;
    auto* m = member_.load(std::memory_order_acquire);
    if (m == nullptr)
      return out;
    auto v = m->view();
    for (const auto& peer : v.members) {
      if (peer.status == "down" || (peer.id == v.self && peer.incarnation == v.incarnation) || peer.address == address_)
        continue;
      out.push_back({peer.address, peer.id + "#" + std::to_string(peer.incarnation)});
    }
    return out;
  }

  void send(const std::string& address, const std::string& service, const std::string& entity_id, std::string message,
            clock::time_point deadline, std::function<void(status)> done) override {
    auto* t = transport_.load(std::memory_order_acquire);
    if (t == nullptr) {
      done(status{status_code::unavailable, "the cluster transport is not running"});
      return;
    }
    cluster::cluster_call call;
    call.service = std::string{crdt::replica_service_prefix} + service;
    call.cmd.entity_id = entity_id;
    call.cmd.payload = std::move(message);
    t->call(address, std::move(call), deadline,
            [done = std::move(done)](command_result r) { done(r.ok() ? status{} : r.status); });
  }

private:
  const std::atomic<cluster::member*>& member_;
  const std::atomic<cluster::transport*>& transport_;
  const std::string& address_;
};

}  // namespace

std::shared_ptr<crdt::replication> cluster_node::replication() {
  if (!replication_)
    replication_ = std::make_shared<member_replication>(live_member_, transport_ptr_, address_);
  return replication_;
}

}  // namespace actorstate
