#include "actorstate/node.hpp"
#include "actorstate/ops/process.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <caf/all.hpp>

#include "actorstate/crdt/entities.hpp"
#include "actorstate/entity.hpp"
#include "actorstate/frontend/entity_key.hpp"
#include "actorstate/frontend/grpc_frontend.hpp"
#include "actorstate/ops/log.hpp"
#include "actorstate/ops/metrics.hpp"
#include "actorstate/persistence/store.hpp"
#include "actorstate/runtime/action_streams.hpp"
#include "actorstate/runtime/reply.hpp"
#include "actorstate/runtime/shard_region.hpp"
#include "cluster_node.hpp"
#include "invoke_completions.hpp"
#include "management_server.hpp"

namespace actorstate {

struct node::impl {
  node_options opts;
  std::vector<std::shared_ptr<detail::model_base>> models;
  metrics::registry metrics;
  std::shared_ptr<persistence::store> store;
  std::unique_ptr<caf::actor_system_config> caf_cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<runtime::call_deadlines> deadlines;
  std::unique_ptr<invoke_completions> completions;  ///< Where `invoke`'s callers hear their results.
  std::map<std::string, std::shared_ptr<const runtime::region>> regions;
  /// This process's replica id for CRDT entities: the member (or host) and a random part, new for every process, so
  /// that no two processes ever tag CRDT changes alike (replicated.hpp, "Dots").
  std::string replica;
  std::unique_ptr<frontend::grpc_frontend> frontend;
  std::unique_ptr<ops::management_server> management;
  std::unique_ptr<cluster_node> cluster;  ///< Null on a node that runs alone.
  std::atomic<bool> serving{false};
  std::atomic<bool> leaving{false};  ///< Shutting down: no longer ready, though still serving while shards move.
  bool opened = false;
  bool served = false;
  status open_status;   ///< What the first `open` returned; later calls repeat it rather than go on half opened.
  status serve_status;  ///< Likewise for `serve`.
  bool stopped = false;
  uint16_t port = 0;
  uint16_t management_port = 0;
  size_t threads = 0;
  std::mutex mtx;
  std::condition_variable cv;
  bool stop_requested = false;

  status validate(const std::shared_ptr<detail::model_base>& model);
  bool ready();
  void shutdown();
};

status node::impl::validate(const std::shared_ptr<detail::model_base>& model) {
  bool taken = std::any_of(models.begin(), models.end(),
                           [&](const auto& m) { return m->service_name == model->service_name; });
  return detail::check_model(*model, taken);
}

bool node::impl::ready() {
  if (!serving.load() || leaving.load())
    return false;
  // A member is ready once it has joined and placed its shards: before that every command would wait.
  if (cluster && !cluster->joined())
    return false;
  // A node that cannot take new connections (out of file descriptors) should get no traffic sent its way.
  if (!frontend->accept_healthy())
    return false;
  auto promise = std::make_shared<std::promise<bool>>();
  auto answer = promise->get_future();
  store->ping([promise](status st) { promise->set_value(st.ok()); });
  return answer.wait_for(std::chrono::seconds{2}) == std::future_status::ready && answer.get();
}

node::node(node_options options) : impl_(std::make_unique<impl>()) {
  impl_->opts = std::move(options);
}

node::~node() {
  stop();
  impl_->shutdown();
}

status node::add_model(std::shared_ptr<detail::model_base> model) {
  if (impl_->served) {
    log::error("entity types must be added before the node starts", {{"service", model->service_name}});
    return {status_code::failed_precondition, "cannot register entity type " + model->service_name +
                                                  ": entity types must be added before the node starts"};
  }
  if (auto valid = impl_->validate(model); !valid.ok()) {
    log::error("cannot register entity type", {{"service", model->service_name}, {"error", valid.message()}});
    return valid;
  }
  impl_->models.push_back(std::move(model));
  return {};
}

namespace {

/// "<node id or host name>#<16 random hex digits>": new for every process (entities.hpp, type_config::replica).
std::string replica_id(const std::string& node_id) {
  std::string name = node_id;
  if (name.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0)
      name = host;
  }
  std::random_device rd;
  uint64_t r = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(r));
  return name + "#" + hex;
}

// `open`'s work, once: the management endpoint (not ready yet), the store and the actor system.
status open_once(node::impl& s) {
  // Signals are taken by run()'s sigtimedwait, so every thread created from here on must have them blocked.
  ops::block_termination_signals();
  log::level lvl;
  if (log::parse_level(s.opts.log_level, lvl))
    log::set_level(lvl);

  persistence::store_options store_opts;
  store_opts.sqlite_synchronous = s.opts.sqlite_synchronous;
  store_opts.sqlite_quick_check = s.opts.sqlite_quick_check;
  store_opts.cluster = s.opts.cluster;
  store_opts.idempotency_retention = s.opts.idempotency_retention;
  auto uri = s.opts.store_uri();
  if (!s.opts.cluster.empty() && uri.starts_with("memory")) {
    auto why = "--cluster " + s.opts.cluster +
               " needs a store every member shares (PostgreSQL, or one SQLite file for members on one host); "
               "--store memory lives in this process only";
    log::error("refusing to start", {{"error", why}});
    return {status_code::invalid_argument, why};
  }
  auto opened = persistence::open_store(uri, store_opts);
  if (!opened.ok()) {
    log::error("cannot open the store; refusing to start",
               {{"store", persistence::redact_uri(uri)}, {"error", opened.error().to_string()}});
    return {opened.error().code(), "cannot open the store: " + opened.error().message()};
  }
  s.store = std::move(opened.value());
  if (s.opts.wrap_store)
    s.store = s.opts.wrap_store(std::move(s.store));
  log::info("store opened", {{"store", persistence::redact_uri(uri)}, {"plugin", s.store->name()}});
  if (!s.opts.cluster.empty() && s.store->cluster_coordination() == nullptr) {
    auto why = "the " + s.store->name() + " store keeps no cluster membership; --cluster needs PostgreSQL or SQLite";
    log::error("refusing to start", {{"error", why}});
    return {status_code::invalid_argument, why};
  }

  s.threads = s.opts.scheduler_threads;
  if (s.threads == 0)
    s.threads = std::max<size_t>(2, std::thread::hardware_concurrency());
  auto threads = s.threads;
  s.caf_cfg = std::make_unique<caf::actor_system_config>();
  // Without the sleep-poll phase a hand-off between actors costs tens of microseconds less (caf-remoting.md).
  s.caf_cfg->set("scheduler.max-threads", threads);
  s.caf_cfg->set("work-stealing.aggressive-poll-attempts", 0);
  s.caf_cfg->set("work-stealing.moderate-poll-attempts", 0);
  s.caf_cfg->add_message_types<caf::id_block::actorstate>();
  if (!s.opts.cluster.empty()) {
    cluster_settings cs;
    cs.name = s.opts.cluster;
    cs.bind = s.opts.bind;
    cs.port = s.opts.cluster_port;
    cs.advertise_host = s.opts.advertise_host;
    cs.node_id = s.opts.node_id;
    cs.shards = s.opts.shards;
    cs.failure_timeout = s.opts.failure_timeout;
    cs.command_timeout = s.opts.command_timeout;
    s.cluster = std::make_unique<cluster_node>(std::move(cs));
    if (auto st = s.cluster->configure(*s.caf_cfg); !st.ok()) {
      log::error("cannot configure cluster remoting", {{"error", st.message()}});
      return st;
    }
  }
  s.sys = std::make_unique<caf::actor_system>(*s.caf_cfg);
  s.replica = replica_id(s.opts.node_id);
  s.deadlines = std::make_unique<runtime::call_deadlines>(s.opts.command_timeout);
  s.completions = std::make_unique<invoke_completions>();
  s.frontend = std::make_unique<frontend::grpc_frontend>(*s.deadlines, s.opts.max_message_size);

  std::function<std::string()> cluster_page;
  if (s.cluster)
    cluster_page = [&s] { return s.cluster->view_json(); };
  s.management = std::make_unique<ops::management_server>(
      [&s] { return s.ready(); },
      [&s] { return s.metrics.render() + (s.cluster ? s.cluster->render_metrics() : std::string{}); },
      std::move(cluster_page));
  auto management_port = s.management->start(s.opts.bind, s.opts.management_port);
  if (!management_port.ok()) {
    log::error("cannot start the management endpoint", {{"error", management_port.error().message()}});
    return management_port.error();  // "management endpoint: ..." already
  }
  s.management_port = management_port.value();
  log::info("listening on management " + s.opts.bind + ":" + std::to_string(s.management_port));
  return {};
}

// `serve`'s work, once: the regions of all added entity types and the client-facing port.
status serve_once(node::impl& s) {
  auto threads = s.threads;
  // The regions the cluster places (shards); CRDT entity types are not among them.
  std::map<std::string, std::shared_ptr<const runtime::region>> sharded;
  std::map<std::string, caf::actor> crdt_managers;  ///< Where other members' replica messages go, by type.

  for (auto& model : s.models) {
    auto env = std::make_shared<runtime::entity_env>();
    env->model = model;
    env->store = s.store;
    env->metrics = s.metrics.entity(model->service_name);
    env->route = s.frontend->router();
    env->idempotency_keys = s.opts.idempotency_retention.count() > 0;
    runtime::region_config rc;
    rc.env = env;
    rc.shards = s.opts.shards;
    rc.passivation_timeout = s.opts.passivation_timeout;
    rc.max_active = s.opts.max_active_entities;
    rc.action_workers = threads;
    rc.stop_timeout = s.opts.drain_timeout;
    if (s.cluster) {
      rc.hooks = s.cluster->hooks();
      rc.start_holding = true;  // until the member says which shards are this node's
    }
    if (model->kind == detail::entity_kind::crdt) {
      // Not sharded: every member runs its own replicas (crdt/entities.hpp), so the cluster does not place them.
      crdt::type_config tc;
      tc.env = env;
      tc.replica = s.replica;
      tc.passivation_timeout = s.opts.passivation_timeout;
      tc.stop_timeout = s.opts.drain_timeout;
      if (s.cluster)
        tc.peers = s.cluster->replication();
      rc.hooks = nullptr;
      rc.start_holding = false;
      rc.single_target = crdt::spawn_manager(*s.sys, std::move(tc));
      crdt_managers[model->service_name] = rc.single_target;
    }
    auto region = runtime::spawn_region(*s.sys, rc);
    s.regions[model->service_name] = region;
    if (model->kind != detail::entity_kind::crdt)
      sharded[model->service_name] = region;
    for (auto& [name, sig] : model->methods) {
      frontend::route r;
      r.region = region;
      r.method = name;
      r.descriptor = model->service->FindMethodByName(name);
      auto* factory = model->message_factory != nullptr ? model->message_factory
                                                        : google::protobuf::MessageFactory::generated_factory();
      r.factory = factory;
      r.keyed = model->kind != detail::entity_kind::action;
      bool streaming = r.descriptor->client_streaming() || r.descriptor->server_streaming();
      if (model->kind == detail::entity_kind::crdt && streaming) {
        // A streamed command's key comes from its one request message, which the call's stream receives.
        std::vector<const google::protobuf::FieldDescriptor*> keys;
        if (auto found = frontend::key_fields(r.descriptor->input_type()); found.ok())
          keys = std::move(found).value();
        crdt::key_reader key = [method = r.descriptor, keys](const std::string& payload) -> result<std::string> {
          std::string id;
          if (auto st = frontend::scan_request(method->input_type(), payload, keys, id); !st.ok())
            return st;
          return id;
        };
        r.open_stream = [manager = rc.single_target, name = r.method, key](std::vector<metadata_entry> metadata,
                                                                           detail::action_stream_sink sink,
                                                                           detail::call_router) {
          return crdt::open_streamed_command(manager, name, key, std::move(metadata), std::move(sink));
        };
      }
      if (model->kind == detail::entity_kind::action && streaming) {
        r.open_stream = [action = std::static_pointer_cast<const detail::action_model>(model), method = r.descriptor](
                            std::vector<metadata_entry> metadata, detail::action_stream_sink sink,
                            detail::call_router route) {
          return runtime::open_streamed_call(action, method, std::move(metadata), std::move(sink), std::move(route));
        };
      }
      if (auto st = s.frontend->add_route(std::move(r)); !st.ok()) {
        log::error("cannot serve entity type", {{"service", model->service_name}, {"error", st.message()}});
        return {st.code(), "cannot serve entity type " + model->service_name + ": " + st.message()};
      }
    }
    log::info("entity type registered", {{"service", model->service_name},
                                         {"kind", std::string{detail::to_string(model->kind)}},
                                         {"persistence_id", model->persistence_id}});
  }

  if (s.cluster) {
    s.cluster->set_replica_inbound([managers = crdt_managers](const std::string& service, std::string entity_id,
                                                              std::string message, std::function<void(status)> done) {
      auto m = managers.find(service);
      if (m == managers.end()) {
        done(status{status_code::unimplemented, "this member does not serve the CRDT entity type " + service});
        return;
      }
      crdt::deliver_replica(m->second, std::move(entity_id), std::move(message), std::move(done));
    });
    if (auto st = s.cluster->start(*s.sys, *s.store->cluster_coordination(), sharded, *s.deadlines); !st.ok()) {
      log::error("cannot join the cluster", {{"cluster", s.opts.cluster}, {"error", st.message()}});
      return {st.code(), "cannot join cluster " + s.opts.cluster + ": " + st.message()};
    }
  }

  http::http_options http_opts;
  http_opts.cors_origins = s.opts.cors_allow_origins;
  auto bound = s.frontend->start(s.opts.bind, s.opts.port, http_opts);
  if (!bound.ok()) {
    log::error("cannot start the gRPC frontend", {{"error", bound.error().message()}});
    return {bound.error().code(), "cannot start the gRPC frontend: " + bound.error().message()};
  }
  s.port = bound.value();
  log::info("listening on grpc " + s.opts.bind + ":" + std::to_string(s.port));
  if (!s.opts.port_file.empty() && !ops::write_port_file(s.opts.port_file, s.port)) {
    log::error("cannot write the port file", {{"path", s.opts.port_file}});
    return {status_code::unavailable, "cannot write the port file " + s.opts.port_file};
  }
  s.serving = true;
  return {};
}

}  // namespace

status node::start() {
  return serve();  // which opens first
}

status node::open() {
  auto& s = *impl_;
  if (s.opened)
    return s.open_status;
  s.opened = true;
  s.open_status = open_once(s);
  return s.open_status;
}

status node::serve() {
  auto& s = *impl_;
  if (s.served)
    return s.serve_status;
  if (auto st = open(); !st.ok())
    return st;
  s.served = true;
  s.serve_status = serve_once(s);
  return s.serve_status;
}

status node::run() {
  if (auto st = start(); !st.ok()) {
    impl_->shutdown();
    return st;
  }
  // stop() wakes the wait at once; a signal is noticed within one tick.
  while (!stopping()) {
    std::unique_lock<std::mutex> lock{impl_->mtx};
    impl_->cv.wait_for(lock, std::chrono::milliseconds{50}, [this] { return impl_->stop_requested; });
  }
  impl_->shutdown();
  return {};
}

bool node::stopping() {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  if (!impl_->stop_requested && impl_->opened) {
    // Signals stay blocked (and pending) in every thread after open(); take one if it arrived.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    timespec zero{0, 0};
    int sig = sigtimedwait(&set, nullptr, &zero);
    if (sig == SIGINT || sig == SIGTERM) {
      log::info("signal received; shutting down", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
      impl_->stop_requested = true;
    }
  }
  return impl_->stop_requested;
}

void node::stop() {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  impl_->stop_requested = true;
  impl_->cv.notify_all();
}

void node::impl::shutdown() {
  if (stopped || !opened)
    return;
  stopped = true;
  // A member first hands its shards over while it still takes calls (they are forwarded to the new owners), so a
  // rolling restart fails no request; /ready answers 503 meanwhile so that no new traffic is sent here.
  if (cluster && serving.load()) {
    leaving = true;
    if (auto st = cluster->leave(opts.drain_timeout); !st.ok())
      log::warn("leaving the cluster did not finish", {{"error", st.message()}});
  }
  serving = false;
  // Order matters: send the clients away while still serving what they send meanwhile (a member that left forwards
  // it to the shards' new owners) and let in-flight calls finish (their replies wait for durability), then stop the
  // entities, then flush and close the store.
  if (frontend)
    frontend->shutdown(opts.drain_timeout);
  if (management)
    management->stop();
  if (cluster)
    cluster->stop(opts.drain_timeout);  // before the actor system goes: the transport's actors end here
  if (sys) {
    for (auto& [name, region] : regions)
      region->stop();
    regions.clear();
    sys.reset();
  }
  cluster.reset();  // after the actor system: the regions' hooks pointed here
  if (deadlines)
    deadlines->stop();
  // After the deadlines: the calls they failed have queued their completions, which run before the thread ends.
  if (completions)
    completions->stop();
  if (store)
    store->close();
  log::info("stopped");
}

void node::invoke(const std::string& service_name, command cmd, std::function<void(command_result)> done) {
  auto i = impl_->regions.find(service_name);
  if (!impl_->serving.load() || i == impl_->regions.end()) {
    done(command_result::failure(i == impl_->regions.end() ? status_code::unimplemented : status_code::unavailable,
                                 "cannot reach " + service_name));
    return;
  }
  const auto& target = i->second->target(cmd.entity_id);
  impl_->deadlines->call(target, std::move(cmd), impl_->completions->wrap(std::move(done)));
}

uint16_t node::port() const {
  return impl_->port;
}

uint16_t node::management_port() const {
  return impl_->management_port;
}

}  // namespace actorstate
