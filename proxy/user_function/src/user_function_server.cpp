// The server: model validation (the node's rules plus the ones a proxy applies at discovery, so a mistake shows at
// registration rather than as a proxy that refuses to start), the gRPC server and its lifecycle. Shutdown uses
// gRPC's own deadline: the proxy keeps one stream open per active entity, and those get `drain_timeout` to carry
// their last commands before gRPC cancels them.
#include "actorstate/ops/process.hpp"
#include "actorstate/user_function.hpp"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>

#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>

#include "actorstate/frontend/entity_key.hpp"
#include "actorstate/ops/log.hpp"
#include "services.hpp"

namespace actorstate {

struct user_function_server::impl {
  user_function_options opts;
  uf::registry reg;
  std::unique_ptr<uf::discovery_service> discovery;
  std::unique_ptr<uf::event_sourced_service> event_sourced;
  std::unique_ptr<uf::value_entity_service> values;
  std::unique_ptr<uf::crdt_service> crdts;
  std::unique_ptr<uf::action_service> actions;
  std::unique_ptr<grpc::Server> server;
  std::atomic<uint16_t> port{0};
  std::mutex mtx;
  bool started = false;
  status start_status;  ///< What the first `start` returned; later calls repeat it.
  bool stopped = false;
  bool stop_requested = false;

  status validate(const std::shared_ptr<detail::model_base>& model) const;
  void shutdown();
};

namespace {

bool complete(const detail::model_base& model) {
  switch (model.kind) {
    case detail::entity_kind::event_sourced: {
      const auto& m = static_cast<const detail::event_sourced_model&>(model);
      return m.make_state && m.handle && m.apply;
    }
    case detail::entity_kind::value: {
      const auto& m = static_cast<const detail::value_model&>(model);
      return m.make_state && m.handle;
    }
    case detail::entity_kind::crdt:
      return static_cast<bool>(static_cast<const detail::crdt_model&>(model).open);
    case detail::entity_kind::action:
      break;
  }
  return static_cast<bool>(static_cast<const detail::action_model&>(model).handle);
}

std::string listen_address(const std::string& host, uint16_t port) {
  bool bare_ipv6 = host.find(':') != std::string::npos && host.front() != '[';
  return (bare_ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

status user_function_server::impl::validate(const std::shared_ptr<detail::model_base>& model) const {
  if (!complete(*model))
    return {status_code::invalid_argument, "the model of " + model->service_name + " lacks handlers"};
  bool taken = std::any_of(reg.all.begin(), reg.all.end(),
                           [&](const auto& m) { return m->service_name == model->service_name; });
  if (auto checked = detail::check_model(*model, taken); !checked.ok())
    return checked;
  bool entity = model->kind != detail::entity_kind::action;
  for (int i = 0; i < model->service->method_count(); ++i) {
    const auto* method = model->service->method(i);
    if (entity) {
      // A proxy refuses such entity services at discovery, and then serves nothing at all. CRDTs may stream
      // replies (subscriptions to their changes), but no entity takes a stream of requests.
      bool crdt = model->kind == detail::entity_kind::crdt;
      if (method->client_streaming() || (method->server_streaming() && !crdt))
        return {status_code::invalid_argument,
                "method " + method->full_name() +
                    (crdt ? " takes a stream of requests, which CRDT entities do not support"
                          : " streams, which entities do not support")};
      auto keys = frontend::key_fields(method->input_type());
      if (!keys.ok())
        return keys.error();
      if (keys->empty())
        return {status_code::invalid_argument, "method " + method->full_name() +
                                                   " has no (cloudstate.entity_key) field in " +
                                                   method->input_type()->full_name()};
    }
  }
  return {};
}

user_function_server::user_function_server(user_function_options opts) : impl_(std::make_unique<impl>()) {
  impl_->opts = std::move(opts);
}

user_function_server::~user_function_server() {
  stop();
  impl_->shutdown();
}

status user_function_server::add_model(std::shared_ptr<detail::model_base> model) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  if (model == nullptr) {
    log::error("cannot register a null model");
    return {status_code::invalid_argument, "cannot register a null model"};
  }
  if (impl_->started) {
    log::error("entity types must be added before the user function starts", {{"service", model->service_name}});
    return {status_code::failed_precondition, "cannot register entity type " + model->service_name +
                                                  ": entity types must be added before the user function starts"};
  }
  if (auto valid = impl_->validate(model); !valid.ok()) {
    log::error("cannot register entity type", {{"service", model->service_name}, {"error", valid.message()}});
    return valid;
  }
  auto& reg = impl_->reg;
  switch (model->kind) {
    case detail::entity_kind::event_sourced:
      reg.event_sourced[model->service_name] = std::static_pointer_cast<const detail::event_sourced_model>(model);
      break;
    case detail::entity_kind::value:
      reg.values[model->service_name] = std::static_pointer_cast<const detail::value_model>(model);
      break;
    case detail::entity_kind::crdt:
      reg.crdts[model->service_name] = std::static_pointer_cast<const detail::crdt_model>(model);
      break;
    case detail::entity_kind::action:
      reg.actions[model->service_name] = std::static_pointer_cast<const detail::action_model>(model);
      break;
  }
  reg.all.push_back(std::move(model));
  return {};
}

namespace {

// `start`'s work, once, under the server's mutex.
status start_once(user_function_server::impl& s) {
  // run() takes the signals with sigtimedwait, so every thread created from here on (gRPC's) must block them.
  ops::block_termination_signals();
  if (!s.opts.log_level.empty()) {
    log::level lvl;
    if (!log::parse_level(s.opts.log_level, lvl)) {
      log::error("unknown log level", {{"log_level", s.opts.log_level}});
      return {status_code::invalid_argument, "unknown log level " + s.opts.log_level};
    }
    log::set_level(lvl);
  }
  if (s.reg.all.empty())
    log::warn("no entity types registered; the proxy will reject this user function");
  for (const auto& model : s.reg.all)
    log::info("entity type registered", {{"service", model->service_name},
                                         {"kind", std::string{detail::to_string(model->kind)}},
                                         {"persistence_id", model->persistence_id}});

  s.discovery = std::make_unique<uf::discovery_service>(s.reg, uf::entity_spec(s.reg, s.opts));
  s.event_sourced = std::make_unique<uf::event_sourced_service>(s.reg);
  s.values = std::make_unique<uf::value_entity_service>(s.reg);
  s.crdts = std::make_unique<uf::crdt_service>(s.reg);
  s.actions = std::make_unique<uf::action_service>(s.reg);

  grpc::ServerBuilder builder;
  int selected = 0;
  auto address = listen_address(s.opts.host, s.opts.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &selected);
  builder.SetMaxReceiveMessageSize(static_cast<int>(s.opts.max_message_size));
  builder.SetMaxSendMessageSize(static_cast<int>(s.opts.max_message_size));
  // gRPC sets SO_REUSEPORT by default: a second user function on the same port would then start "fine" and
  // take a share of the proxy's connections instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(s.discovery.get());
  builder.RegisterService(s.event_sourced.get());
  builder.RegisterService(s.values.get());
  builder.RegisterService(s.crdts.get());
  builder.RegisterService(s.actions.get());
  s.server = builder.BuildAndStart();
  if (!s.server || selected == 0) {
    log::error("cannot listen for the proxy", {{"address", address}});
    if (s.server)
      s.server->Shutdown(std::chrono::system_clock::now());
    s.server.reset();
    return {status_code::unavailable, "cannot listen for the proxy on " + address};
  }
  s.port = static_cast<uint16_t>(selected);
  log::info("listening on user-function " + s.opts.host + ":" + std::to_string(selected));
  if (!s.opts.port_file.empty() && !ops::write_port_file(s.opts.port_file, s.port)) {
    log::error("cannot write the port file", {{"path", s.opts.port_file}});
    return {status_code::unavailable, "cannot write the port file " + s.opts.port_file};
  }
  return {};
}

}  // namespace

status user_function_server::start() {
  auto& s = *impl_;
  std::lock_guard<std::mutex> guard{s.mtx};
  if (s.started)
    return s.start_status;
  s.started = true;
  s.start_status = start_once(s);
  return s.start_status;
}

status user_function_server::run() {
  if (auto st = start(); !st.ok()) {
    impl_->shutdown();
    return st;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  timespec tick{0, 100 * 1000 * 1000};
  for (;;) {
    {
      std::lock_guard<std::mutex> guard{impl_->mtx};
      if (impl_->stop_requested)
        break;
    }
    int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      log::info("signal received; shutting down", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
      break;
    }
  }
  impl_->shutdown();
  return {};
}

void user_function_server::stop() {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  impl_->stop_requested = true;
}

uint16_t user_function_server::port() const {
  return impl_->port.load();
}

void user_function_server::impl::shutdown() {
  {
    std::lock_guard<std::mutex> guard{mtx};
    if (stopped || !started)
      return;
    stopped = true;
  }
  if (server) {
    server->Shutdown(std::chrono::system_clock::now() + opts.drain_timeout);
    server->Wait();
    server.reset();
  }
  log::info("user function stopped");
}

}  // namespace actorstate
