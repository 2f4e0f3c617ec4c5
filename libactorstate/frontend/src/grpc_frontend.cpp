#include "actorstate/frontend/grpc_frontend.hpp"

#include <grpc/grpc.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_posix.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <string_view>

#include "actorstate/frontend/client_port.hpp"
#include "actorstate/frontend/entity_key.hpp"
#include "actorstate/frontend/write_queue.hpp"
#include "actorstate/ops/log.hpp"
#include "grpc/reflection/v1alpha/reflection.pb.h"
#include "http/h2_server.hpp"
#include "http/http_server.hpp"
#include "http/transcoder.hpp"
#include "reflection.hpp"

namespace actorstate::frontend {

namespace {

grpc::Status to_grpc(const command_result& r) {
  return grpc::Status{static_cast<grpc::StatusCode>(client_code(r.status.code())), r.status.message()};
}

bool dump(const grpc::ByteBuffer& buf, std::string& out) {
  std::vector<grpc::Slice> slices;
  if (!buf.Dump(&slices).ok())
    return false;
  out.clear();
  out.reserve(buf.Length());
  for (auto& s : slices)
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return true;
}

/// A call's text headers, without HTTP/2 pseudo-headers, gRPC's own and binary ones (user functions get these).
std::vector<metadata_entry> request_metadata(const grpc::GenericCallbackServerContext& ctx) {
  std::vector<metadata_entry> out;
  for (const auto& [key, value] : ctx.client_metadata()) {
    std::string_view k{key.data(), key.size()};
    if (k.empty() || k[0] == ':' || k.substr(0, 5) == "grpc-" || k == "content-type" || k == "te" ||
        (k.size() > 4 && k.substr(k.size() - 4) == "-bin"))
      continue;
    out.push_back({std::string{k}, std::string{value.data(), value.size()}});
  }
  return out;
}

/// One unary call: read the request, hand it to the entity, write the reply. A cancelled call (the client went away,
/// or the server's shutdown cancelled it) finishes at once, so neither the drain nor gRPC's Shutdown waits for the
/// command timeout. The runtime's completion may therefore come after gRPC is done with the call: it holds a strong
/// reference, and gRPC's own reference (self_) is dropped in OnDone, so the reactor is freed by whichever comes
/// last. Exactly one Finish wins (`finished_`); only its winner touches the server context, which is valid until
/// OnDone, and OnDone cannot come before that Finish.
class unary_call : public grpc::ServerGenericBidiReactor {
public:
  static unary_call* create(grpc_frontend& fe, grpc::GenericCallbackServerContext* ctx) {
    std::shared_ptr<unary_call> call{new unary_call(fe, ctx)};
    call->self_ = call;
    call->start();
    return call.get();
  }

  void OnReadDone(bool ok) override {
    if (finished_.load())
      return;  // Cancelled while reading.
    if (!ok) {
      finish(grpc::Status{grpc::StatusCode::INVALID_ARGUMENT, "no request message"});
      return;
    }
    std::string payload;
    if (!dump(request_, payload)) {
      finish(grpc::Status{grpc::StatusCode::INVALID_ARGUMENT, "unreadable request"});
      return;
    }
    // self_ is still set: OnDone only follows this reaction.
    fe_.call(*route_, std::move(payload), request_metadata(*ctx_),
             [call = self_](command_result r) { call->complete(std::move(r)); });
  }

  void OnWriteDone(bool) override {}

  void OnCancel() override { finish(grpc::Status{grpc::StatusCode::CANCELLED, "the call was cancelled"}); }

  void OnDone() override {
    if (counted_)
      fe_.end_call();
    auto last = std::move(self_);  // May free this reactor when `last` goes (a pending completion keeps it).
  }

private:
  unary_call(grpc_frontend& fe, grpc::GenericCallbackServerContext* ctx) : fe_(fe), ctx_(ctx) {}

  void start() {
    counted_ = fe_.begin_call();
    if (!counted_) {
      finish(grpc::Status{grpc::StatusCode::UNAVAILABLE, "the node is shutting down"});
      return;
    }
    route_ = fe_.find(ctx_->method());
    if (route_ == nullptr) {
      finish(grpc::Status{grpc::StatusCode::UNIMPLEMENTED, "unknown service or method " + ctx_->method()});
      return;
    }
    if (route_->descriptor->client_streaming() || route_->descriptor->server_streaming()) {
      // Only actions stream; the route was checked when it was added.
      finish(grpc::Status{grpc::StatusCode::UNIMPLEMENTED, "streaming calls are not supported for " + ctx_->method()});
      return;
    }
    StartRead(&request_);
  }

  void finish(const grpc::Status& status) {
    if (!finished_.exchange(true))
      Finish(status);
  }

  void complete(command_result r) {
    if (finished_.exchange(true))
      return;  // Cancelled: nobody waits for this answer any more (and the context may be gone).
    for (auto& entry : r.metadata) {
      std::string key = entry.key;
      std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
      // gRPC rejects the whole response for one invalid header; drop such entries instead.
      bool valid = !key.empty() && key[0] != ':' && key.substr(0, 5) != "grpc-" &&
                   key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_.") == std::string::npos;
      if (valid)
        ctx_->AddInitialMetadata(key, entry.value);
    }
    if (!r.ok()) {
      Finish(to_grpc(r));
      return;
    }
    grpc::Slice slice{r.payload};
    reply_ = grpc::ByteBuffer{&slice, 1};
    StartWriteAndFinish(&reply_, grpc::WriteOptions{}, grpc::Status::OK);
  }

  grpc_frontend& fe_;
  grpc::GenericCallbackServerContext* ctx_;
  const route* route_ = nullptr;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer reply_;
  bool counted_ = false;  // counted in the drain (set by start, before any reaction)
  std::atomic<bool> finished_{false};
  std::shared_ptr<unary_call> self_;  ///< gRPC's reference, dropped in OnDone.
};

/// A streamed action call: client messages go to the action's stream, its elements come back as they arrive and
/// its end finishes the call. The stream reports from other threads, through a write queue that outlives the
/// reactor.
class streamed_call : public grpc::ServerGenericBidiReactor {
public:
  streamed_call(grpc_frontend& fe, grpc::GenericCallbackServerContext* ctx, const route& r)
      : fe_(fe), out_(std::make_shared<queue>(this)) {
    detail::action_stream_sink sink;
    sink.element = [q = out_](std::string payload) {
      grpc::Slice slice{payload};
      q->push(grpc::ByteBuffer{&slice, 1});
    };
    sink.end = [q = out_](command_result end) { q->end(end.ok() ? grpc::Status::OK : to_grpc(end)); };
    stream_ = r.open_stream(request_metadata(*ctx), std::move(sink), fe.router());
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      stream_->half_close();
      return;
    }
    std::string payload;
    if (!dump(request_, payload)) {
      stream_->cancel();
      out_->end(grpc::Status{grpc::StatusCode::INVALID_ARGUMENT, "unreadable request"});
      return;
    }
    stream_->send(std::move(payload));
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override { out_->write_done(ok); }

  void OnCancel() override { stream_->cancel(); }

  void OnDone() override {
    out_->detach();
    fe_.end_call();
    delete this;
  }

private:
  using queue = write_queue<streamed_call, grpc::ByteBuffer>;

  grpc_frontend& fe_;
  std::shared_ptr<queue> out_;
  std::shared_ptr<detail::action_stream> stream_;
  grpc::ByteBuffer request_;
};

/// A reflection stream: each request is answered from the node's descriptors until the client half-closes.
class reflection_call : public grpc::ServerGenericBidiReactor {
public:
  explicit reflection_call(const reflection& r) : reflection_(r) { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    std::string bytes;
    grpc::reflection::v1alpha::ServerReflectionRequest request;
    if (!dump(request_, bytes) || !request.ParseFromString(bytes)) {
      Finish(grpc::Status{grpc::StatusCode::INVALID_ARGUMENT, "not a ServerReflectionRequest"});
      return;
    }
    grpc::reflection::v1alpha::ServerReflectionResponse response;
    reflection_.answer(request, response);
    grpc::Slice slice{response.SerializeAsString()};
    reply_ = grpc::ByteBuffer{&slice, 1};
    StartWrite(&reply_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status{grpc::StatusCode::UNKNOWN, "write failed"});
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

private:
  const reflection& reflection_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer reply_;
};

}  // namespace

class grpc_frontend::service : public grpc::CallbackGenericService {
public:
  explicit service(grpc_frontend& fe) : fe_(fe) {}
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    if (ctx->method() == reflection_path && fe_.reflection_service() != nullptr)
      return new reflection_call(*fe_.reflection_service());
    const auto* r = fe_.find(ctx->method());
    if (r != nullptr && r->open_stream) {
      if (fe_.begin_call())
        return new streamed_call(fe_, ctx, *r);
      // Draining: unary_call answers UNAVAILABLE.
    }
    return unary_call::create(fe_, ctx);
  }

private:
  grpc_frontend& fe_;
};

grpc_frontend::grpc_frontend(runtime::call_deadlines& deadlines, size_t max_message_size)
    : deadlines_(deadlines), max_message_size_(max_message_size) {}

grpc_frontend::~grpc_frontend() = default;

status grpc_frontend::add_route(route r) {
  if (r.keyed) {
    auto keys = key_fields(r.descriptor->input_type());
    if (!keys.ok())
      return keys.error();
    if (keys->empty())
      return {status_code::invalid_argument, "method " + r.descriptor->full_name() + ": input type " +
                                                 r.descriptor->input_type()->full_name() +
                                                 " has no field marked (cloudstate.entity_key) = true"};
    r.key_fields = std::move(keys).value();
  }
  auto& slot = by_service_[r.descriptor->service()->full_name()][r.descriptor->name()];
  if (slot == nullptr)
    slot = &routes_.emplace_back(std::move(r));
  else
    *slot = std::move(r);
  by_method_[slot->descriptor] = slot;
  return {};
}

void grpc_frontend::call(const route& r, std::string payload, std::vector<metadata_entry> metadata,
                         std::function<void(command_result)> done) {
  command cmd;
  cmd.method = r.method;
  cmd.metadata = std::move(metadata);
  if (auto st = scan_request(r.descriptor->input_type(), payload, r.key_fields, cmd.entity_id); !st.ok()) {
    done(command_result::failure(std::move(st)));
    return;
  }
  if (r.keyed && cmd.entity_id.empty()) {
    done(command_result::failure(status_code::invalid_argument, "the entity key is empty"));
    return;
  }
  cmd.payload = std::move(payload);
  // Straight to the shard: the instance answers through the call's slot. (The target first: `cmd` moves.)
  const auto& target = r.region->target(cmd.entity_id);
  deadlines_.call(target, std::move(cmd), std::move(done));
}

void grpc_frontend::call(const std::string& service, const std::string& method, std::string payload,
                         std::function<void(command_result)> done) {
  const auto* r = find(std::string_view{service}, std::string_view{method});
  if (r == nullptr) {
    done(command_result::failure(status_code::unimplemented, "unknown service or method " + service + "/" + method));
    return;
  }
  call(*r, std::move(payload), {}, std::move(done));
}

detail::call_router grpc_frontend::router() {
  return
      [this](const std::string& service, const std::string& method, std::string payload,
             std::function<void(command_result)> done) { call(service, method, std::move(payload), std::move(done)); };
}

const route* grpc_frontend::find(const std::string& path) const {
  // "/<service>/<method>", as gRPC names a call: the two names are views into the path.
  std::string_view p{path};
  auto slash = p.rfind('/');
  if (p.empty() || p.front() != '/' || slash == 0)
    return nullptr;
  return find(p.substr(1, slash - 1), p.substr(slash + 1));
}

const route* grpc_frontend::find(const google::protobuf::MethodDescriptor* method) const {
  auto i = by_method_.find(method);
  return i == by_method_.end() ? nullptr : i->second;
}

const route* grpc_frontend::find(std::string_view service, std::string_view method) const {
  auto s = by_service_.find(service);
  if (s == by_service_.end())
    return nullptr;
  auto m = s->second.find(method);
  return m == s->second.end() ? nullptr : m->second;
}

result<uint16_t> grpc_frontend::start(const std::string& bind, uint16_t port, const http::http_options& http_opts) {
  std::vector<const google::protobuf::ServiceDescriptor*> services;
  transcoder_ = std::make_unique<http::transcoder>();
  for (const auto& r : routes_) {
    services.push_back(r.descriptor->service());
    auto* factory = r.factory != nullptr ? r.factory : google::protobuf::MessageFactory::generated_factory();
    if (auto st = transcoder_->add(r.descriptor, factory); !st.ok())
      return st;
  }
  reflection_ = std::make_unique<reflection>(services);
  service_ = std::make_unique<service>(*this);
  port_ = std::make_unique<client_port>();
  auto bound = port_->open(bind, port);
  if (!bound.ok())
    return bound;
  // No listening port of its own: the client port hands gRPC its connections.
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_message_size_));
  builder.SetMaxSendMessageSize(static_cast<int>(max_message_size_));
  builder.RegisterCallbackGenericService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_)
    return status{status_code::unavailable, "cannot start the gRPC server"};
  auto opts = http_opts;
  opts.max_message_size = max_message_size_;
  http_ = std::make_unique<http::http_server>(*this, *transcoder_, opts);
  if (auto st = http_->start(); !st.ok())
    return st;
  h2_ = std::make_unique<http::h2_server>(*this, *transcoder_, std::move(opts),
                                          [this](int fd) { grpc::AddInsecureChannelFromFd(server_.get(), fd); });
  if (auto st = h2_->start(); !st.ok())
    return st;
  port_->start([this](int fd, const sockaddr*, socklen_t) { h2_->add_connection(fd); },
               [this](int fd, const sockaddr* addr, socklen_t len) { http_->add_connection(fd, addr, len); });
  return bound;
}

bool grpc_frontend::begin_call() {
  return calls_.enter();
}

void grpc_frontend::end_call() {
  calls_.leave();
}

bool grpc_frontend::accept_healthy() const {
  return port_ == nullptr || port_->accept_healthy();
}

void grpc_frontend::shutdown(std::chrono::milliseconds drain) {
  if (!server_)
    return;
  auto until = std::chrono::steady_clock::now() + drain;
  // Go away rather than refuse: a call refused here is one the client must retry, and one that cannot tell whether
  // it ran (UNAVAILABLE) unless it carries an idempotency key. Closing the connections instead moves each client on
  // at a point where nothing of its is in flight, and the calls that still arrive are served.
  port_->stop();
  // A failed `start` may have left the HTTP servers unstarted or unmade.
  if (http_)
    http_->go_away();
  if (h2_)
    h2_->go_away();
  // GOAWAY on the gRPC server's connections (gRPC refuses later calls on them itself, which its clients retry on a
  // new connection), and waits for their calls under way, cancelling them at the deadline.
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(std::max(
                        std::chrono::steady_clock::duration::zero(), until - std::chrono::steady_clock::now())));
  // The connections' ends are not signalled; a short poll is enough for a wait that happens once, at shutdown.
  while (std::chrono::steady_clock::now() < until &&
         (!calls_.empty() || (http_ && http_->open_connections() != 0) || (h2_ && h2_->open_connections() != 0)))
    calls_.wait_empty(std::min(until, std::chrono::steady_clock::now() + std::chrono::milliseconds{10}));
  // Whatever still arrives (a connection that outlived `drain`) is refused from here on.
  calls_.close();
  calls_.wait_empty(until);
  if (http_)
    http_->stop();
  if (h2_)
    h2_->stop();
  server_->Wait();
  server_.reset();
}

}  // namespace actorstate::frontend
