#include "interceptor.hpp"

#include <atomic>
#include <future>
#include <sstream>
#include <thread>

#include "cloudstate/action.grpc.pb.h"
#include "cloudstate/crdt.grpc.pb.h"
#include "cloudstate/entity.grpc.pb.h"
#include "cloudstate/event_sourced.grpc.pb.h"
#include "cloudstate/value_entity.grpc.pb.h"

namespace tck_proxy {

namespace {

using namespace std::chrono_literals;

// Longest a relayed unary call may take upstream (the proxy's own deadline wins when it is shorter).
constexpr auto upstream_timeout = 30s;

void set_upstream_deadline(grpc::ClientContext& up, const grpc::ServerContext& ctx) {
  up.set_deadline(std::min(ctx.deadline(), std::chrono::system_clock::now() + upstream_timeout));
}

// Relays one unary call, recording the request and, when the user function answers, the response.
template <class Request, class Response, class Call>
grpc::Status relay_unary(interceptor& ic, protocol kind, const char* method, grpc::ServerContext* ctx,
                         const Request* request, Response* response, Call call_upstream) {
  auto call = ic.open(kind, method);
  ic.record(call, direction::in, *request);
  ic.close_in(call, true);
  grpc::ClientContext up;
  set_upstream_deadline(up, *ctx);
  auto status = call_upstream(&up, *request, response);
  if (status.ok())
    ic.record(call, direction::out, *response);
  ic.finish(call, status);
  return status;
}

// The proxy's side of a relayed stream, whatever the method's shape: `read` takes the proxy's next message (false once
// it half-closed or cancelled), `write` passes one answer back (false once the proxy's side is gone). `streaming_in` is
// false when `read` never waits (the one request of a server-streaming call): the user function may then finish before
// `read` has reported the end, and that must not cut the proxy's side off as a user function ending early does.
template <class In, class Out>
struct proxy_side {
  std::function<bool(In*)> read;
  std::function<bool(const Out&)> write;
  bool streaming_in = true;
};

template <class In, class Out>
using upstream_opener = std::function<std::unique_ptr<grpc::ClientReaderWriter<In, Out>>(grpc::ClientContext*)>;

// Relays one stream: this thread carries proxy → user function, a second one the answers. The user function is always
// called as a bidi stream (on the wire every shape is one), so that it ending early is noticed while the proxy is still
// sending.
template <class In, class Out>
grpc::Status relay_stream(interceptor& ic, protocol kind, const char* method, grpc::ServerContext* ctx,
                          proxy_side<In, Out> proxy, const upstream_opener<In, Out>& open_upstream) {
  auto call = ic.open(kind, method);
  grpc::ClientContext up_ctx;
  auto up = open_upstream(&up_ctx);
  std::atomic<bool> in_closed{false};
  std::promise<void> down_done;
  auto down_finished = down_done.get_future();
  std::thread down{[&] {
    Out msg;
    while (up->Read(&msg)) {
      ic.record(call, direction::out, msg);
      if (!proxy.write(msg)) {
        up_ctx.TryCancel();
        break;
      }
    }
    // The user function ended the stream while the proxy's side is still open: end it for the proxy too.
    if (proxy.streaming_in && !in_closed.load())
      ctx->TryCancel();
    down_done.set_value();
  }};
  In msg;
  bool upstream_gone = false;
  while (proxy.read(&msg)) {
    ic.record(call, direction::in, msg);
    if (!up->Write(msg)) {
      upstream_gone = true;
      break;
    }
  }
  in_closed.store(true);
  bool cancelled = ctx->IsCancelled();
  ic.close_in(call, !upstream_gone && !cancelled);
  if (cancelled)
    up_ctx.TryCancel();
  else
    up->WritesDone();
  // A proxy cancelling after its half-close is seen only by polling: the sync API has no cancellation callback.
  while (down_finished.wait_for(50ms) != std::future_status::ready)
    if (ctx->IsCancelled())
      up_ctx.TryCancel();
  down.join();
  auto status = up->Finish();
  ic.finish(call, status);
  return status;
}

// Entity `handle` streams: one per entity, as long-lived as the proxy keeps them, hence no deadline.
template <class In, class Out, class Stub>
grpc::Status relay_handle(interceptor& ic, protocol kind, grpc::ServerContext* ctx,
                          grpc::ServerReaderWriter<Out, In>* stream, Stub& stub) {
  return relay_stream<In, Out>(
      ic, kind, "handle", ctx,
      {[stream](In* m) { return stream->Read(m); }, [stream](const Out& m) { return stream->Write(m); }},
      [&stub](grpc::ClientContext* up) { return stub.handle(up); });
}

namespace pa = cloudstate::action;

// An ActionProtocol stream method of the user function, called as a bidi stream whatever its declared shape; the
// method name must be a literal (gRPC keeps the pointer).
upstream_opener<pa::ActionCommand, pa::ActionResponse> action_upstream(const std::shared_ptr<grpc::Channel>& channel,
                                                                       const char* path,
                                                                       const grpc::ServerContext& ctx) {
  return [&channel, path, &ctx](grpc::ClientContext* up) {
    set_upstream_deadline(*up, ctx);
    return std::unique_ptr<grpc::ClientReaderWriter<pa::ActionCommand, pa::ActionResponse>>{
        grpc::internal::ClientReaderWriterFactory<pa::ActionCommand, pa::ActionResponse>::Create(
            channel.get(), grpc::internal::RpcMethod{path, grpc::internal::RpcMethod::BIDI_STREAMING}, up)};
  };
}

}  // namespace

const char* protocol_name(protocol p) {
  switch (p) {
    case protocol::discovery:
      return "discovery";
    case protocol::event_sourced:
      return "event-sourced";
    case protocol::value_entity:
      return "value-entity";
    case protocol::crdt:
      return "crdt";
    case protocol::action:
      return "action";
  }
  return "?";
}

struct interceptor::services {
  std::shared_ptr<grpc::Channel> channel;

  struct discovery_service final : cloudstate::EntityDiscovery::Service {
    interceptor* ic = nullptr;
    std::unique_ptr<cloudstate::EntityDiscovery::Stub> stub;
    grpc::Status discover(grpc::ServerContext* ctx, const cloudstate::ProxyInfo* request,
                          cloudstate::EntitySpec* response) override {
      return relay_unary(*ic, protocol::discovery, "discover", ctx, request, response,
                         [&](grpc::ClientContext* up, const cloudstate::ProxyInfo& req, cloudstate::EntitySpec* resp) {
                           return stub->discover(up, req, resp);
                         });
    }
    grpc::Status reportError(grpc::ServerContext* ctx, const cloudstate::UserFunctionError* request,
                             google::protobuf::Empty* response) override {
      return relay_unary(*ic, protocol::discovery, "reportError", ctx, request, response,
                         [&](grpc::ClientContext* up, const cloudstate::UserFunctionError& req,
                             google::protobuf::Empty* resp) { return stub->reportError(up, req, resp); });
    }
  } discovery;

  struct event_sourced_service final : cloudstate::eventsourced::EventSourced::Service {
    interceptor* ic = nullptr;
    std::unique_ptr<cloudstate::eventsourced::EventSourced::Stub> stub;
    grpc::Status handle(grpc::ServerContext* ctx,
                        grpc::ServerReaderWriter<cloudstate::eventsourced::EventSourcedStreamOut,
                                                 cloudstate::eventsourced::EventSourcedStreamIn>* stream) override {
      return relay_handle(*ic, protocol::event_sourced, ctx, stream, *stub);
    }
  } event_sourced;

  struct value_entity_service final : cloudstate::valueentity::ValueEntity::Service {
    interceptor* ic = nullptr;
    std::unique_ptr<cloudstate::valueentity::ValueEntity::Stub> stub;
    grpc::Status handle(grpc::ServerContext* ctx,
                        grpc::ServerReaderWriter<cloudstate::valueentity::ValueEntityStreamOut,
                                                 cloudstate::valueentity::ValueEntityStreamIn>* stream) override {
      return relay_handle(*ic, protocol::value_entity, ctx, stream, *stub);
    }
  } value_entity;

  struct crdt_service final : cloudstate::crdt::Crdt::Service {
    interceptor* ic = nullptr;
    std::unique_ptr<cloudstate::crdt::Crdt::Stub> stub;
    grpc::Status handle(
        grpc::ServerContext* ctx,
        grpc::ServerReaderWriter<cloudstate::crdt::CrdtStreamOut, cloudstate::crdt::CrdtStreamIn>* stream) override {
      return relay_handle(*ic, protocol::crdt, ctx, stream, *stub);
    }
  } crdt;

  struct action_service final : cloudstate::action::ActionProtocol::Service {
    interceptor* ic = nullptr;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<cloudstate::action::ActionProtocol::Stub> stub;
    grpc::Status handleUnary(grpc::ServerContext* ctx, const cloudstate::action::ActionCommand* request,
                             cloudstate::action::ActionResponse* response) override {
      return relay_unary(*ic, protocol::action, "handleUnary", ctx, request, response,
                         [&](grpc::ClientContext* up, const cloudstate::action::ActionCommand& req,
                             cloudstate::action::ActionResponse* resp) { return stub->handleUnary(up, req, resp); });
    }
    grpc::Status handleStreamedIn(grpc::ServerContext* ctx, grpc::ServerReader<pa::ActionCommand>* reader,
                                  pa::ActionResponse* response) override {
      bool answered = false;
      auto status = relay_stream<pa::ActionCommand, pa::ActionResponse>(
          *ic, protocol::action, "handleStreamedIn", ctx,
          {[reader](pa::ActionCommand* m) { return reader->Read(m); },
           [&](const pa::ActionResponse& m) {
             if (answered)
               return false;  // a second response breaks the protocol: the call is cut
             *response = m;
             answered = true;
             return true;
           }},
          action_upstream(channel, "/cloudstate.action.ActionProtocol/handleStreamedIn", *ctx));
      if (status.ok() && !answered)
        return {grpc::StatusCode::INTERNAL, "the user function completed handleStreamedIn without a response"};
      return status;
    }
    grpc::Status handleStreamedOut(grpc::ServerContext* ctx, const pa::ActionCommand* request,
                                   grpc::ServerWriter<pa::ActionResponse>* writer) override {
      bool sent = false;
      return relay_stream<pa::ActionCommand, pa::ActionResponse>(
          *ic, protocol::action, "handleStreamedOut", ctx,
          {[&](pa::ActionCommand* m) {
             if (sent)
               return false;
             *m = *request;
             sent = true;
             return true;
           },
           [writer](const pa::ActionResponse& m) { return writer->Write(m); }, false},
          action_upstream(channel, "/cloudstate.action.ActionProtocol/handleStreamedOut", *ctx));
    }
    grpc::Status handleStreamed(grpc::ServerContext* ctx,
                                grpc::ServerReaderWriter<pa::ActionResponse, pa::ActionCommand>* stream) override {
      return relay_stream<pa::ActionCommand, pa::ActionResponse>(
          *ic, protocol::action, "handleStreamed", ctx,
          {[stream](pa::ActionCommand* m) { return stream->Read(m); },
           [stream](const pa::ActionResponse& m) { return stream->Write(m); }},
          action_upstream(channel, "/cloudstate.action.ActionProtocol/handleStreamed", *ctx));
    }
  } action;
};

interceptor::interceptor(const std::string& upstream) : services_{std::make_unique<services>()} {
  services_->channel = grpc::CreateChannel(upstream, grpc::InsecureChannelCredentials());
  services_->discovery.ic = this;
  services_->discovery.stub = cloudstate::EntityDiscovery::NewStub(services_->channel);
  services_->event_sourced.ic = this;
  services_->event_sourced.stub = cloudstate::eventsourced::EventSourced::NewStub(services_->channel);
  services_->value_entity.ic = this;
  services_->value_entity.stub = cloudstate::valueentity::ValueEntity::NewStub(services_->channel);
  services_->crdt.ic = this;
  services_->crdt.stub = cloudstate::crdt::Crdt::NewStub(services_->channel);
  services_->action.ic = this;
  services_->action.channel = services_->channel;
  services_->action.stub = cloudstate::action::ActionProtocol::NewStub(services_->channel);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&services_->discovery);
  builder.RegisterService(&services_->event_sourced);
  builder.RegisterService(&services_->value_entity);
  builder.RegisterService(&services_->crdt);
  builder.RegisterService(&services_->action);
  server_ = builder.BuildAndStart();
  if (!server_ || port <= 0)
    throw std::runtime_error("the interceptor could not listen on 127.0.0.1");
  port_ = static_cast<uint16_t>(port);
}

interceptor::~interceptor() {
  if (server_)
    server_->Shutdown(std::chrono::system_clock::now() + 2s);
}

std::shared_ptr<recorded_call> interceptor::open(protocol kind, std::string method) {
  auto call = std::make_shared<recorded_call>();
  call->kind = kind;
  call->method = std::move(method);
  std::lock_guard lock{mutex_};
  calls_.push_back(call);
  changed_.notify_all();
  return call;
}

void interceptor::record(const std::shared_ptr<recorded_call>& call, direction dir,
                         const google::protobuf::Message& msg) {
  std::shared_ptr<google::protobuf::Message> copy{msg.New()};
  copy->CopyFrom(msg);
  std::lock_guard lock{mutex_};
  (dir == direction::in ? call->in : call->out).push_back(std::move(copy));
  changed_.notify_all();
}

void interceptor::close_in(const std::shared_ptr<recorded_call>& call, bool completed) {
  std::lock_guard lock{mutex_};
  call->in_closed = true;
  call->in_completed = completed;
  changed_.notify_all();
}

void interceptor::finish(const std::shared_ptr<recorded_call>& call, const grpc::Status& status) {
  std::lock_guard lock{mutex_};
  call->in_closed = true;
  call->finished = true;
  call->status = status;
  changed_.notify_all();
}

std::shared_ptr<recorded_call> interceptor::claim(protocol kind,
                                                  const std::function<bool(const google::protobuf::Message&)>& match,
                                                  std::chrono::milliseconds timeout, bool mark) {
  std::unique_lock lock{mutex_};
  std::shared_ptr<recorded_call> found;
  changed_.wait_for(lock, timeout, [&] {
    for (const auto& call : calls_) {
      if (!call->claimed && call->kind == kind && !call->in.empty() && match(*call->in.front())) {
        found = call;
        return true;
      }
    }
    return false;
  });
  if (found && mark)
    found->claimed = true;
  return found;
}

std::unique_ptr<google::protobuf::Message> interceptor::message(const std::shared_ptr<recorded_call>& call,
                                                                direction dir, size_t index,
                                                                std::chrono::milliseconds timeout) {
  std::unique_lock lock{mutex_};
  const auto& messages = dir == direction::in ? call->in : call->out;
  changed_.wait_for(lock, timeout, [&] {
    return messages.size() > index || call->finished || (dir == direction::in && call->in_closed);
  });
  if (messages.size() <= index)
    return nullptr;
  std::unique_ptr<google::protobuf::Message> copy{messages[index]->New()};
  copy->CopyFrom(*messages[index]);
  return copy;
}

bool interceptor::wait_in_closed(const std::shared_ptr<recorded_call>& call, std::chrono::milliseconds timeout) {
  std::unique_lock lock{mutex_};
  return changed_.wait_for(lock, timeout, [&] { return call->in_closed; });
}

bool interceptor::wait_finished(const std::shared_ptr<recorded_call>& call, std::chrono::milliseconds timeout) {
  std::unique_lock lock{mutex_};
  return changed_.wait_for(lock, timeout, [&] { return call->finished; });
}

size_t interceptor::count(const std::shared_ptr<recorded_call>& call, direction dir) {
  std::lock_guard lock{mutex_};
  return (dir == direction::in ? call->in : call->out).size();
}

size_t interceptor::calls_of(protocol kind) {
  std::lock_guard lock{mutex_};
  size_t n = 0;
  for (const auto& call : calls_)
    n += call->kind == kind ? 1 : 0;
  return n;
}

namespace {

void describe(std::ostringstream& text, const recorded_call& call) {
  text << protocol_name(call.kind) << " " << call.method << (call.claimed ? "" : " (unclaimed)")
       << (call.in_completed ? " half-closed"
           : call.in_closed  ? " in-cut"
                             : " open")
       << (call.finished ? " finished " + std::to_string(call.status.error_code()) + " " + call.status.error_message()
                         : std::string{})
       << "\n";
  // Messages in arrival order per direction (the two directions are not interleaved in the record).
  auto shorten = [](std::string s) { return s.size() <= 600 ? s : s.substr(0, 600) + "..."; };
  for (const auto& m : call.in)
    text << "    in:  " << shorten(m->ShortDebugString()) << "\n";
  for (const auto& m : call.out)
    text << "    out: " << shorten(m->ShortDebugString()) << "\n";
}

}  // namespace

std::vector<std::string> interceptor::unclaimed() {
  std::lock_guard lock{mutex_};
  std::vector<std::string> result;
  for (const auto& call : calls_) {
    if (call->claimed || call->method == "discover")
      continue;
    std::ostringstream text;
    describe(text, *call);
    result.push_back(text.str());
    call->claimed = true;  // reported once
  }
  return result;
}

std::string interceptor::dump() {
  std::lock_guard lock{mutex_};
  std::ostringstream text;
  for (const auto& call : calls_)
    describe(text, *call);
  return text.str();
}

}  // namespace tck_proxy
