#include "actorstate/cluster/transport.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/io/basp_broker.hpp>

#include "actorstate/ops/log.hpp"
#include "actorstate/runtime/post.hpp"
#include "dial.hpp"
#include "node_identity.hpp"
#include "peer_address.hpp"
#include "wire.hpp"

namespace actorstate::cluster {

namespace {
/// How a call that never left this member (its peer could not be dialed) begins its message; `never_sent` tells
/// such a call from one lost in flight, which may have run.
constexpr std::string_view unreachable_prefix = "cannot reach cluster peer ";
}  // namespace

status transport::probe(const std::string& address, std::chrono::milliseconds within) {
  auto parsed = detail::parse_peer_address(address);
  if (!parsed.ok())
    return parsed.error();
  auto outcome =
      detail::tcp_connect(parsed.value().host, parsed.value().port, std::chrono::steady_clock::now() + within);
  if (!outcome.socket)
    return status{status_code::unavailable, address + ": " + outcome.error};
  return {};
}

bool transport::never_sent(const status& outcome) {
  return outcome.code() == status_code::unavailable && outcome.message().starts_with(unreachable_prefix);
}

status transport::not_run(const std::string& why) {
  return status{status_code::unavailable, std::string{unreachable_prefix} + why};
}

namespace {

using clock = transport::clock;
using detail::outbound_call;
using detail::wire_call;
using detail::wire_result;

/// Tells connecting members apart from other CAF applications: BASP refuses a peer whose application ids share
/// none with ours (`incompatible_application_ids`) instead of letting it call in with messages we do not know.
constexpr const char* app_identifier = "actorstate.cluster.1";

std::string render(caf::actor_system& sys, const caf::error& err) {
  return sys.render(err);
}

/// What every peer link of one transport shares.
struct link_settings {
  caf::actor basp;  ///< The BASP broker, which does the handshake of a connection we dialed.
  std::chrono::milliseconds connect_timeout{0};
  std::function<void(const std::string&, const status&)> peer_lost;
  bool batching = false;
};

/// One peer as this member calls it: the connection (dialed on demand), the calls waiting for it and the calls in
/// flight on it, each with its deadline. One actor per peer, so all of a peer's state is touched by one thread.
class peer_link : public actorstate::detail::worker_marked_actor {
public:
  peer_link(caf::actor_config& cfg, std::string peer, detail::peer_address address, link_settings settings)
      : worker_marked_actor(cfg),
        peer_(std::move(peer)),
        address_(std::move(address)),
        settings_(std::move(settings)) {}

  const char* name() const override { return "actorstate.cluster.peer_link"; }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& dm) {
      if (gateway_ && dm.source == gateway_.address())
        lost(dm.reason);
    });
    return {
        [this](outbound_call& oc) { accept(std::move(oc)); },
        [this](wire_result& r) { finish(r.id, std::move(r.result)); },
        [this](std::vector<wire_result>& batch) {
          for (auto& r : batch)
            finish(r.id, std::move(r.result));
        },
        [this](expire_atom) { expire(); },
        [this](flush_atom) {
          flush_queued_ = false;
          flush();
        },
    };
  }

  void on_exit() override {
    fail_all(false, status{status_code::unavailable, "the cluster transport stopped"});
    // Strong references go now, not when the last reference to this actor does: the BASP broker holds ours in a
    // pending handshake's promise and we hold it, and a cycle would outlive the actor system.
    gateway_ = nullptr;
    settings_ = link_settings{};
    outbox_.clear();
  }

private:
  struct pending {
    std::shared_ptr<runtime::call_slot> slot;
    clock::time_point deadline;
    std::multimap<clock::time_point, uint64_t>::iterator by_deadline;
    std::optional<cluster_call> unsent;  ///< Held while the connection is being dialed.
  };

  void accept(outbound_call&& oc) {
    auto id = next_id_++;
    auto at = by_deadline_.emplace(oc.deadline, id);
    auto& p = pending_[id];
    p.slot = std::move(oc.slot);
    p.deadline = oc.deadline;
    p.by_deadline = at;
    arm(oc.deadline);
    if (gateway_) {
      send_call(id, p, std::move(oc.call));
      return;
    }
    p.unsent = std::move(oc.call);
    waiting_.push_back(id);
    if (!dialing_) {
      dial_started_ = clock::now();
      dial(1);
    }
  }

  void send_call(uint64_t id, const pending& p, cluster_call call) {
    ++call.hops;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(p.deadline - clock::now());
    call.time_left = std::max(left, std::chrono::milliseconds{1});
    if (!settings_.batching) {
      send(gateway_, wire_call{id, std::move(call)});
      return;
    }
    // Batching without waiting: with nothing else in the mailbox the outbox goes now (a lone call pays nothing);
    // otherwise the calls queued behind this one join it, and a flush message queued behind them sends the lot.
    outbox_.push_back(wire_call{id, std::move(call)});
    if (mailbox().empty()) {
      flush();
    } else if (!flush_queued_) {
      flush_queued_ = true;
      send(this, flush_atom_v);
    }
  }

  void flush() {
    if (outbox_.empty() || !gateway_)
      return;
    if (outbox_.size() == 1)
      send(gateway_, std::move(outbox_.front()));
    else
      send(gateway_, std::move(outbox_));
    outbox_.clear();
  }

  /// The time left of this dial's connect timeout, at least 1 ms (CAF takes 0 for "no timeout").
  std::chrono::milliseconds dial_time_left() const {
    auto left = settings_.connect_timeout - (clock::now() - dial_started_);
    return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(left), std::chrono::milliseconds{1});
  }

  /// TCP on a dialer thread of its own (dial.hpp: CAF's middleman actor would block every dial of the process on
  /// one unreachable host), then the BASP handshake by the broker, as CAF's own `connect` does it.
  void dial(int attempt) {
    dialing_ = true;
    auto dialer = system().spawn<caf::detached>(detail::dialer);
    auto until = dial_started_ + settings_.connect_timeout;
    request(dialer, dial_time_left(), detail::dial_request{address_.host, address_.port, until})
        .then(
            [this, attempt](detail::dial_outcome& tcp) {
              if (!tcp.socket) {
                dial_failed(tcp.error);
                return;
              }
              auto scribe = system().middleman().backend().new_scribe(tcp.socket->release());
              request(settings_.basp, dial_time_left(), caf::connect_atom_v, std::move(scribe), address_.port)
                  .then([this](const caf::node_id& nid, caf::strong_actor_ptr& ptr,
                               const std::set<std::string>&) { connected(nid, std::move(ptr)); },
                        [this, attempt](caf::error& err) {
                          // CAF 0.17 kills an outgoing connection whose BASP handshake has not arrived by the next
                          // heartbeat tick, however long `connection-timeout` is (its last-seen time starts at zero):
                          // a handshake that straddles a tick fails at once with `connection_timeout`. The tick after
                          // that is a full interval away, so one more attempt (within the same connect timeout) tells
                          // that apart from a peer that is down.
                          if (err == caf::sec::connection_timeout && attempt == 1 &&
                              clock::now() - dial_started_ < settings_.connect_timeout) {
                            dial(attempt + 1);
                            return;
                          }
                          dial_failed(err == caf::sec::request_timeout ? "no BASP handshake within the connect timeout"
                                                                       : render(system(), err));
                        });
            },
            [this](caf::error& err) {
              dial_failed(err == caf::sec::request_timeout ? "no TCP answer within the connect timeout"
                                                           : render(system(), err));
            });
  }

  void dial_failed(const std::string& why) {
    dialing_ = false;
    log::debug("cannot reach cluster peer", {{"peer", peer_}, {"error", why}});
    fail_waiting(status{status_code::unavailable, std::string{unreachable_prefix} + peer_ + ": " + why});
  }

  void connected(const caf::node_id& nid, caf::strong_actor_ptr ptr) {
    dialing_ = false;
    if (nid == system().node()) {
      // Two processes with one CAF node id cannot talk (BASP takes the connection for one to self, and may even
      // hand back one of our own actors as "the peer's"). configure_remoting gives every process a random id, so
      // the peer runs without it, or the address is our own.
      auto why = "cluster peer " + peer_ + " has this node's own CAF node id " + caf::to_string(nid) +
                 " (the address is this member's own, or the peer runs without actorstate's node-id module; see "
                 "docs/cluster.md, \"Transport\")";
      log::error("refusing cluster peer", {{"peer", peer_}, {"error", why}});
      fail_waiting(status{status_code::unavailable, std::move(why)});
      return;
    }
    if (!ptr) {
      fail_waiting(status{status_code::unavailable,
                          "cluster peer " + peer_ + " publishes no gateway on that port (not an actorstate member?)"});
      return;
    }
    gateway_ = caf::actor_cast<caf::actor>(std::move(ptr));
    monitor(gateway_);
    auto ids = std::move(waiting_);
    waiting_.clear();
    for (auto id : ids) {
      auto i = pending_.find(id);
      if (i != pending_.end() && i->second.unsent) {
        auto call = std::move(*i->second.unsent);
        i->second.unsent.reset();
        send_call(id, i->second, std::move(call));
      }
    }
  }

  void lost(const caf::error& reason) {
    gateway_ = nullptr;
    outbox_.clear();
    auto why = status{status_code::unavailable, "lost cluster peer " + peer_ + ": " + render(system(), reason)};
    log::warn("cluster peer lost", {{"peer", peer_}, {"reason", render(system(), reason)}});
    // Only calls already sent are lost with the connection; none wait for a dial while a connection is up.
    fail_all(true, why);
    if (settings_.peer_lost)
      settings_.peer_lost(peer_, why);
  }

  void finish(uint64_t id, command_result result) {
    auto i = pending_.find(id);
    if (i == pending_.end())
      return;  // Late: the call already ended (deadline, lost peer).
    auto slot = std::move(i->second.slot);
    by_deadline_.erase(i->second.by_deadline);
    pending_.erase(i);
    slot->finish(std::move(result));
  }

  void fail_waiting(const status& why) {
    auto ids = std::move(waiting_);
    waiting_.clear();
    for (auto id : ids)
      finish(id, command_result::failure(why));
  }

  void fail_all(bool sent_only, const status& why) {
    std::vector<uint64_t> ids;
    for (auto& [id, p] : pending_)
      if (!sent_only || !p.unsent)
        ids.push_back(id);
    for (auto id : ids)
      finish(id, command_result::failure(why));
    if (!sent_only)
      waiting_.clear();
  }

  /// One timer for all deadlines: armed for the earliest, re-armed after it fires (a CAF request timeout per call
  /// would cost the clock thread an entry per call, kept until it fires, reply or not).
  void arm(clock::time_point deadline) {
    if (armed_ && *armed_ <= deadline)
      return;
    armed_ = deadline;
    auto delay = std::max(deadline - clock::now(), clock::duration::zero());
    delayed_send(this, delay, expire_atom_v);
  }

  void expire() {
    armed_.reset();
    auto now = clock::now();
    std::vector<uint64_t> due;
    for (auto i = by_deadline_.begin(); i != by_deadline_.end() && i->first <= now; ++i)
      due.push_back(i->second);
    for (auto id : due) {
      waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), id), waiting_.end());
      finish(id, command_result::failure(status_code::deadline_exceeded,
                                         "the call to cluster peer " + peer_ + " timed out"));
    }
    if (!by_deadline_.empty())
      arm(by_deadline_.begin()->first);
  }

  std::string peer_;
  detail::peer_address address_;
  link_settings settings_;
  caf::actor gateway_;
  bool dialing_ = false;
  clock::time_point dial_started_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, pending> pending_;
  std::multimap<clock::time_point, uint64_t> by_deadline_;
  std::vector<uint64_t> waiting_;
  std::optional<clock::time_point> armed_;
  std::vector<wire_call> outbox_;
  bool flush_queued_ = false;
};

/// The results to one calling peer link that wait for the gateway's next flush (batching only).
struct reply_buffer {
  caf::actor to;
  std::mutex mtx;
  std::vector<wire_result> items;
  bool flush_posted = false;

  void flush() {
    std::vector<wire_result> out;
    {
      std::lock_guard<std::mutex> guard{mtx};
      out.swap(items);
      flush_posted = false;
    }
    if (out.size() == 1)
      caf::anon_send(to, std::move(out.front()));
    else if (!out.empty())
      caf::anon_send(to, std::move(out));
  }
};

/// The one actor a member publishes: hands each inbound call to the inbound handler with a reply function that
/// sends the result straight to the calling peer link, from whichever thread calls it.
class gateway : public actorstate::detail::worker_marked_actor {
public:
  using inbound_fn = std::function<void(cluster_call, std::function<void(command_result)>)>;

  gateway(caf::actor_config& cfg, inbound_fn inbound, bool batching)
      : worker_marked_actor(cfg), inbound_(std::move(inbound)), batching_(batching) {}

  const char* name() const override { return "actorstate.cluster.gateway"; }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& dm) { buffers_.erase(dm.source); });
    return {
        [this](wire_call& wc) { accept(std::move(wc)); },
        [this](std::vector<wire_call>& batch) {
          for (auto& wc : batch)
            accept(std::move(wc));
        },
        [](actorstate::detail::continuation& c) { c.fn(); },
    };
  }

  void on_exit() override {
    // The reply buffers hold proxies, which hold the BASP broker, which holds this published actor: drop them at
    // termination so no cycle outlives the actor system.
    buffers_.clear();
    inbound_ = nullptr;
  }

private:
  void accept(wire_call&& wc) {
    auto to = caf::actor_cast<caf::actor>(current_sender());
    if (!to)
      return;  // Anonymous: no peer link to answer.
    std::function<void(command_result)> reply;
    auto id = wc.id;
    if (batching_) {
      auto& buf = buffers_[to.address()];
      if (!buf) {
        buf = std::make_shared<reply_buffer>();
        buf->to = to;
        monitor(to);
      }
      reply = [buf, id, self = caf::actor{this}](command_result r) {
        bool post;
        {
          std::lock_guard<std::mutex> guard{buf->mtx};
          buf->items.push_back(wire_result{id, std::move(r)});
          post = !buf->flush_posted;
          buf->flush_posted = true;
        }
        if (post)
          actorstate::detail::post(self, [buf] { buf->flush(); });
      };
    } else {
      reply = [to = std::move(to), id](command_result r) { caf::anon_send(to, wire_result{id, std::move(r)}); };
    }
    // A call slot answers once, and UNAVAILABLE if the handler drops the reply function unanswered.
    auto slot = std::make_shared<runtime::call_slot>(std::move(reply));
    inbound_(std::move(wc.call), [slot](command_result r) { slot->finish(std::move(r)); });
  }

  inbound_fn inbound_;
  bool batching_;
  std::map<caf::actor_addr, std::shared_ptr<reply_buffer>> buffers_;
};

}  // namespace

status configure_remoting(caf::actor_system_config& cfg, const remoting_options& opts) {
  if (opts.heartbeat_interval.count() <= 0)
    return {status_code::invalid_argument,
            "the cluster heartbeat interval must be positive: without heartbeats a hung or cut-off peer is never "
            "noticed"};
  if (opts.connection_timeout <= opts.heartbeat_interval)
    return {status_code::invalid_argument,
            "the cluster connection timeout (" + std::to_string(opts.connection_timeout.count()) +
                "ms) must exceed the heartbeat interval (" + std::to_string(opts.heartbeat_interval.count()) + "ms)"};
  cfg.load<caf::io::middleman>();
  detail::load_node_identity(cfg);
  cfg.add_message_types<caf::id_block::actorstate>();
  cfg.add_message_types<caf::id_block::actorstate_cluster>();
  // Deserializing on the multiplexer thread instead of handing each message to a BASP worker: one scheduler hop
  // less per message, about half the round trip (caf-remoting.md, section 1).
  cfg.set("middleman.workers", size_t{0});
  cfg.set("middleman.heartbeat-interval", caf::timespan{opts.heartbeat_interval});
  cfg.set("middleman.connection-timeout", caf::timespan{opts.connection_timeout});
  cfg.set("middleman.app-identifiers", std::vector<std::string>{app_identifier});
  return {};
}

struct transport::impl {
  impl(caf::actor_system& s, transport_options o) : sys(s), opts(std::move(o)) {}

  caf::actor_system& sys;
  transport_options opts;
  caf::actor gateway;
  caf::actor basp;
  uint16_t port = 0;
  std::mutex mtx;
  std::unordered_map<std::string, caf::actor> links;
  bool stopped = false;

  /// The peer's link actor, spawned on its first call.
  result<caf::actor> link_for(const std::string& peer) {
    std::lock_guard<std::mutex> guard{mtx};
    if (stopped)
      return status{status_code::unavailable, "the cluster transport stopped"};
    if (auto i = links.find(peer); i != links.end())
      return i->second;
    auto address = detail::parse_peer_address(peer);
    if (!address.ok())
      return address.error();
    link_settings settings{basp, opts.connect_timeout, opts.peer_lost, opts.batching};
    auto link = sys.spawn<peer_link>(peer, std::move(address.value()), std::move(settings));
    links.emplace(peer, link);
    return link;
  }
};

result<std::unique_ptr<transport>> transport::start(caf::actor_system& sys, transport_options opts) {
  if (!opts.inbound)
    return status{status_code::invalid_argument, "the cluster transport needs an inbound handler"};
  if (!sys.has_middleman() || !detail::has_random_node_id(sys))
    return status{status_code::failed_precondition,
                  "the actor system was not prepared with cluster::configure_remoting"};
  auto self = std::make_unique<impl>(sys, std::move(opts));
  self->basp = sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  self->gateway = sys.spawn<gateway>(self->opts.inbound, self->opts.batching);
  const char* in = self->opts.bind.empty() ? nullptr : self->opts.bind.c_str();
  auto port = sys.middleman().publish(self->gateway, self->opts.port, in, true);
  if (!port) {
    caf::anon_send_exit(self->gateway, caf::exit_reason::user_shutdown);
    return status{status_code::unavailable, "cannot open the cluster port " + self->opts.bind + ":" +
                                                std::to_string(self->opts.port) + ": " + sys.render(port.error())};
  }
  self->port = *port;
  log::debug("cluster transport started", {{"port", std::to_string(self->port)}, {"node", caf::to_string(sys.node())}});
  return std::unique_ptr<transport>{new transport(std::move(self))};
}

transport::transport(std::unique_ptr<impl> impl) : impl_(std::move(impl)) {}

transport::~transport() {
  stop();
}

uint16_t transport::port() const {
  return impl_->port;
}

void transport::call(const std::string& peer, cluster_call call, clock::time_point deadline,
                     std::function<void(command_result)> done) {
  if (!done)
    done = [](command_result) {};
  if (call.hops >= impl_->opts.max_hops) {
    done(command_result::failure(status_code::unavailable,
                                 "the call was forwarded " + std::to_string(call.hops) +
                                     " times already (the cluster's hop limit); members disagree on its owner"));
    return;
  }
  if (deadline <= clock::now()) {
    done(command_result::failure(status_code::deadline_exceeded, "the call's deadline passed before it was sent"));
    return;
  }
  auto link = impl_->link_for(peer);
  if (!link.ok()) {
    done(command_result::failure(link.error()));
    return;
  }
  // Queued on this thread's worker when a runtime actor calls (post.hpp), else through the scheduler.
  actorstate::detail::send_here(
      link.value(), outbound_call{std::move(call), deadline, std::make_shared<runtime::call_slot>(std::move(done))});
}

void transport::stop() {
  std::vector<caf::actor> actors;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    if (impl_->stopped)
      return;
    impl_->stopped = true;
    for (auto& [peer, link] : impl_->links)
      actors.push_back(link);
    impl_->links.clear();
  }
  auto& sys = impl_->sys;
  caf::scoped_actor self{sys};
  // Closed before the actors end, and waited for (bounded; the middleman actor is never busy with our dials), so
  // the port is free when stop returns and no unpublish is still on its way while the actor system shuts down.
  self->request(sys.middleman().actor_handle(), std::chrono::seconds{2}, caf::unpublish_atom_v,
                impl_->gateway.address(), impl_->port)
      .receive([] {}, [](caf::error&) {});
  actors.push_back(impl_->gateway);
  for (auto& a : actors) {
    self->monitor(a);
    self->send_exit(a, caf::exit_reason::user_shutdown);
  }
  // Bounded: an inbound handler that never returns must not hang the node's shutdown.
  auto until = clock::now() + std::chrono::seconds{5};
  size_t left = actors.size();
  bool gave_up = false;
  while (left > 0 && !gave_up) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
    self->receive([&](caf::down_msg&) { --left; },
                  caf::after(std::max(wait, std::chrono::milliseconds{0})) >> [&] { gave_up = true; });
  }
  if (gave_up)
    log::warn("cluster transport actors did not stop in time", {{"left", std::to_string(left)}});
  impl_->gateway = nullptr;
}

}  // namespace actorstate::cluster
