// Discovery: ProxyInfo out, EntitySpec in; descriptors from the spec's FileDescriptorSet (files in any order,
// duplicates allowed, well-known and Cloudstate option files taken from the linked-in pool when the user function
// leaves them out); validation as the reference proxy does it; one entity type per spec entity.
#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include <google/protobuf/descriptor.pb.h>
#include <grpc/grpc.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <CLI/CLI.hpp>

#include "actorstate/bridge.hpp"
#include "actorstate/frontend/entity_key.hpp"
#include "actorstate/node.hpp"
#include "actorstate/ops/log.hpp"
#include "entities.hpp"
#include "uf_context.hpp"

namespace actorstate::bridge {

namespace {

constexpr const char* event_sourced_type = "cloudstate.eventsourced.EventSourced";
constexpr const char* value_entity_type = "cloudstate.valueentity.ValueEntity";
constexpr const char* action_type = "cloudstate.action.ActionProtocol";
constexpr const char* crdt_type = "cloudstate.crdt.Crdt";

std::string version() {
#ifdef ACTORSTATE_VERSION
  return ACTORSTATE_VERSION;
#else
  return "0";
#endif
}

/// Builds the pool from the spec's files; `invalid_argument` if the spec's files do not make one.
status build_descriptors(uf_context& ctx, const std::string& proto_bytes) {
  google::protobuf::FileDescriptorSet set;
  if (!set.ParseFromString(proto_bytes))
    return {status_code::invalid_argument, "EntitySpec.proto is not a serialized FileDescriptorSet"};
  std::set<std::string> seen;
  for (const auto& file : set.file()) {
    if (!seen.insert(file.name()).second)
      continue;  // Libraries may send a file more than once.
    if (!ctx.user_files.Add(file))
      return {status_code::invalid_argument, "cannot add descriptor file " + file.name()};
  }
  ctx.linked_files =
      std::make_unique<google::protobuf::DescriptorPoolDatabase>(*google::protobuf::DescriptorPool::generated_pool());
  ctx.files = std::make_unique<google::protobuf::MergedDescriptorDatabase>(&ctx.user_files, ctx.linked_files.get());
  ctx.pool = std::make_unique<google::protobuf::DescriptorPool>(ctx.files.get());
  for (const auto& name : seen)
    if (ctx.pool->FindFileByName(name) == nullptr)
      return {status_code::invalid_argument,
              "descriptor file " + name + " cannot be built (a dependency is missing or it is invalid)"};
  ctx.factory = std::make_unique<google::protobuf::DynamicMessageFactory>(ctx.pool.get());
  return {};
}

using model_list = std::vector<std::shared_ptr<detail::model_base>>;

/// What a valid spec yields: the entity types to serve, and why each of the others cannot be served.
struct served_spec {
  model_list models;
  std::vector<std::string> refused;
};

/// The entity type of one spec entity, or why this proxy cannot serve it (`invalid_argument`). The messages are the
/// reference proxy's, which the TCK compares.
result<std::shared_ptr<detail::model_base>> make_model(const std::shared_ptr<uf_context>& ctx,
                                                       const cloudstate::Entity& entity,
                                                       std::set<std::string>& persistence_ids, bool version_stated) {
  auto invalid = [](std::string message) { return status{status_code::invalid_argument, std::move(message)}; };
  const auto* service = ctx->pool->FindServiceByName(entity.service_name());
  if (service == nullptr)
    return invalid("Service " + entity.service_name() + " not found in descriptors");
  std::shared_ptr<detail::model_base> model;
  const auto& type = entity.entity_type();
  bool keyed = type == event_sourced_type || type == value_entity_type || type == crdt_type;
  bool streams_out = type == crdt_type;  // CRDTs serve server-streaming methods (streamed commands)
  if (type == event_sourced_type) {
    auto m = std::make_shared<detail::event_sourced_model>();
    m->spawn_instance = event_sourced_spawner(ctx);
    model = m;
  } else if (type == value_entity_type) {
    auto m = std::make_shared<detail::value_model>();
    m->spawn_instance = value_entity_spawner(ctx);
    model = m;
  } else if (type == crdt_type) {
    // The support libraries that state no protocol version (npm cloudstate 0.0.3 and earlier) speak the CRDT
    // protocol from before 0.2, which numbers CrdtStreamIn's fields differently (their `deleted` is 0.2's `command`):
    // served, every command would hang until its deadline. Their other entity kinds speak 0.2 and are served.
    if (!version_stated)
      return invalid("Service " + entity.service_name() +
                     ": CRDT entities of a user function that states no protocol version are not served (support "
                     "libraries that leave it out, such as npm cloudstate 0.0.3, speak the CRDT protocol from "
                     "before 0.2); upgrade the support library");
    auto m = std::make_shared<detail::crdt_model>();
    m->open = crdt_opener(ctx);
    m->report_error = [ctx](const std::string& message) { ctx->report_error(message); };
    model = m;
  } else if (type == action_type) {
    auto m = std::make_shared<detail::action_model>();
    auto name = entity.service_name();
    m->handle_async = [ctx, service, name](command cmd, std::function<void(detail::handler_output)> done) {
      const auto* method = service->FindMethodByName(cmd.method);  // before cmd is moved from
      call_unary_action(ctx, name, method, std::move(cmd), std::move(done));
    };
    m->report_error = [ctx](const std::string& message) { ctx->report_error(message); };
    m->open_stream = [ctx, name](const google::protobuf::MethodDescriptor* method, std::vector<metadata_entry> metadata,
                                 detail::action_response_sink sink) {
      return open_action_stream(ctx, name, method, std::move(metadata), std::move(sink));
    };
    model = m;
  } else {
    return invalid("Service " + entity.service_name() + " has unsupported entity type " + type);
  }
  // Support libraries send no persistence id for CRDTs (the reference keys their state by entity id alone): the
  // service name keys their durable state then.
  auto persistence_id = entity.persistence_id();
  if (type == crdt_type && persistence_id.empty())
    persistence_id = entity.service_name();
  if (keyed) {
    if (persistence_id.empty())
      return invalid("Entity " + entity.service_name() + " has no persistence id");
    if (persistence_ids.contains(persistence_id))
      return invalid("Persistence id " + persistence_id + " is used by more than one entity");
  }
  model->service_name = entity.service_name();
  model->persistence_id = persistence_id;
  model->service = service;
  model->message_factory = ctx->factory.get();
  if (entity.passivation_strategy().has_timeout() && entity.passivation_strategy().timeout().timeout() > 0)
    model->settings.passivation_timeout = std::chrono::milliseconds{entity.passivation_strategy().timeout().timeout()};
  for (int i = 0; i < service->method_count(); ++i) {
    const auto* method = service->method(i);
    bool streaming = method->client_streaming() || method->server_streaming();
    if (keyed) {
      if (method->client_streaming() || (streaming && !streams_out))
        return invalid("Method " + method->full_name() + " is streaming, which " + type + " entities do not support");
      auto keys = frontend::key_fields(method->input_type());
      if (!keys.ok())
        return keys.error();
      if (keys->empty())
        return invalid("Method " + method->full_name() + " has no field marked (cloudstate.entity_key) = true in " +
                       method->input_type()->full_name());
    }
    model->methods[method->name()] = {method->input_type(), method->output_type(), streaming};
  }
  if (keyed)
    persistence_ids.insert(persistence_id);
  return model;
}

/// The entity types of a spec, or why the spec as a whole cannot be served: `failed_precondition` for a protocol
/// version this proxy does not speak, `invalid_argument` for a spec that is not usable at all (no entities,
/// descriptors that do not build, no entity that can be served). One entity the proxy cannot serve (a type it lacks,
/// a service missing from the descriptors, a method without a key) does not refuse the others: the user function's
/// other services are served and that one is reported (`refused`). The messages are the reference proxy's.
result<served_spec> validate(const std::shared_ptr<uf_context>& ctx, const cloudstate::EntitySpec& spec) {
  auto invalid = [](std::string message) { return status{status_code::invalid_argument, std::move(message)}; };
  const auto& info = spec.service_info();
  auto major = info.protocol_major_version();
  auto minor = info.protocol_minor_version();
  if (major == 0 && minor == 0) {
    log::warn("the user function does not state its protocol version (0.0); assuming 0.2",
              {{"support_library", info.support_library_name() + " " + info.support_library_version()}});
  } else if (major != 0 || minor != 2) {
    return status{status_code::failed_precondition, "Incompatible protocol version " + std::to_string(major) + "." +
                                                        std::to_string(minor) + ", only 0.2 is supported"};
  }
  if (spec.entities().empty())
    return invalid("No entities were reported by the discover call!");
  if (auto built = build_descriptors(*ctx, spec.proto()); !built.ok())
    return built;
  served_spec served;
  std::set<std::string> persistence_ids;
  for (const auto& entity : spec.entities()) {
    auto model = make_model(ctx, entity, persistence_ids, major != 0 || minor != 0);
    if (model.ok())
      served.models.push_back(std::move(model.value()));
    else
      served.refused.push_back(model.error().message());
  }
  if (served.models.empty()) {
    std::string all = served.refused.front();
    for (size_t i = 1; i < served.refused.size(); ++i)
      all += "; " + served.refused[i];
    return invalid(all);
  }
  return served;
}

/// One discovery call that waits for the channel to connect (up to `wait`, plus time to answer once connected)
/// rather than failing at once: a failed call leaves nothing waiting on the channel, and gRPC then notices a user
/// function that came up only on its next poll, seconds later. nullopt if `stop` became true meanwhile.
std::optional<grpc::Status> call_discover(cloudstate::EntityDiscovery::Stub& stub, const cloudstate::ProxyInfo& info,
                                          cloudstate::EntitySpec& spec, std::chrono::milliseconds wait,
                                          const std::function<bool()>& stop) {
  grpc::ClientContext call;
  call.set_wait_for_ready(true);
  call.set_deadline(std::chrono::system_clock::now() + std::max(wait, std::chrono::milliseconds{1000}) +
                    std::chrono::seconds{10});
  std::mutex mtx;
  std::condition_variable cv;
  std::optional<grpc::Status> result;
  stub.async()->discover(&call, &info, &spec, [&](grpc::Status s) {
    std::lock_guard<std::mutex> guard{mtx};
    result = std::move(s);
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock{mtx};
  bool cancelled = false;
  while (!result) {
    cv.wait_for(lock, std::chrono::milliseconds{20});
    if (!result && !cancelled && stop()) {
      call.TryCancel();
      cancelled = true;
    }
  }
  if (cancelled)
    return std::nullopt;
  return result;
}

/// Sleeps `d` in small steps; false if `stop` became true.
bool wait(std::chrono::milliseconds d, const std::function<bool()>& stop) {
  auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (stop())
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return !stop();
}

}  // namespace

void uf_context::report_error(const std::string& message) const {
  struct call {
    grpc::ClientContext client;
    cloudstate::UserFunctionError request;
    google::protobuf::Empty response;
  };
  auto c = std::make_shared<call>();
  c->request.set_message(message);
  c->client.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds{5});
  discovery->async()->reportError(&c->client, &c->request, &c->response, [c](grpc::Status) {});
}

bridge_flags::bridge_flags(CLI::App& app, bridge_options& o) : opts_(o) {
  auto flag = [&](const std::string& name, auto& target, const std::string& help, const char* var) {
    auto* opt =
        app.add_option(name, target, help + (var ? std::string{" (env "} + var + ")" : ""))->capture_default_str();
    if (var != nullptr)
      env_.emplace_back(opt, var);
  };
  flag("--user-function-host", o.user_function_host, "Host of the user function", "USER_FUNCTION_HOST");
  flag("--user-function-port", o.user_function_port, "Port of the user function", "USER_FUNCTION_PORT");
  flag("--discovery-backoff-min", backoff_min_, "First delay before retrying discovery",
       "ACTORSTATE_DISCOVERY_BACKOFF_MIN");
  flag("--discovery-backoff-max", backoff_max_, "Longest delay between discovery attempts",
       "ACTORSTATE_DISCOVERY_BACKOFF_MAX");
}

void bridge_flags::apply(int argc, char** argv) {
  flags::apply_environment(env_, argc, argv);
  opts_.backoff_min = flags::duration("--discovery-backoff-min", backoff_min_);
  opts_.backoff_max = flags::duration("--discovery-backoff-max", backoff_max_);
}

bool discover(node& n, const bridge_options& opts, const std::function<bool()>& stop) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(opts.max_message_size));
  args.SetMaxSendMessageSize(static_cast<int>(opts.max_message_size));
  // gRPC's default reconnect backoff grows to two minutes; a restarted user function must be reachable again
  // within about a second, since commands fail fast (UNAVAILABLE) while the channel is down.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto target = opts.user_function_host + ":" + std::to_string(opts.user_function_port);
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  std::mt19937 rng{std::random_device{}()};
  auto backoff = opts.backoff_min;
  for (;;) {
    if (stop())
      return false;
    auto ctx = std::make_shared<uf_context>();
    ctx->channel = channel;
    ctx->discovery = cloudstate::EntityDiscovery::NewStub(channel);
    ctx->event_sourced = cloudstate::eventsourced::EventSourced::NewStub(channel);
    ctx->value_entity = cloudstate::valueentity::ValueEntity::NewStub(channel);
    ctx->action = cloudstate::action::ActionProtocol::NewStub(channel);
    ctx->crdt = cloudstate::crdt::Crdt::NewStub(channel);
    cloudstate::ProxyInfo info;
    info.set_protocol_major_version(0);
    info.set_protocol_minor_version(2);
    info.set_proxy_name("actorstate-proxy");
    info.set_proxy_version(version());
    for (auto* t : {event_sourced_type, value_entity_type, crdt_type, action_type})
      info.add_supported_entity_types(t);
    cloudstate::EntitySpec spec;
    auto status = call_discover(*ctx->discovery, info, spec, backoff, stop);
    if (!status) {
      return false;
    }
    std::string problem;
    if (!status->ok()) {
      problem = "user function at " + target + " did not answer discovery: " + status->error_message();
      log::warn(problem);
    } else {
      auto served = validate(ctx, spec);
      if (served.ok()) {
        // Served without them, so that one service the proxy cannot serve does not take the others down with it.
        for (const auto& problem : served->refused) {
          log::error("not serving an entity of the user function", {{"user_function", target}, {"error", problem}});
          ctx->report_error(problem);
        }
        for (auto& model : served->models)
          if (!n.add_model(model).ok())
            return false;
        log::info("discovery succeeded", {{"user_function", target},
                                          {"service", spec.service_info().service_name()},
                                          {"support_library", spec.service_info().support_library_name() + " " +
                                                                  spec.service_info().support_library_version()},
                                          {"entities", std::to_string(served->models.size())},
                                          {"refused", std::to_string(served->refused.size())}});
        return true;
      }
      log::error("the user function's entity spec is invalid; not serving it",
                 {{"user_function", target}, {"error", served.error().message()}});
      ctx->report_error(served.error().message());
      backoff = opts.backoff_max;  // A fixed user function must be redeployed; don't hammer it meanwhile.
    }
    std::uniform_real_distribution<double> jitter{0.8, 1.2};
    auto delay = std::chrono::milliseconds{static_cast<int64_t>(static_cast<double>(backoff.count()) * jitter(rng))};
    if (!wait(delay, stop))
      return false;
    backoff = std::min(opts.backoff_max, backoff * 2);
  }
}

}  // namespace actorstate::bridge
