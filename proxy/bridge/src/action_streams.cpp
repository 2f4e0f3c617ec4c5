// Streamed action calls (client-, server- and bidi-streaming methods) bridged to ActionProtocol's
// handleStreamedIn / handleStreamedOut / handleStreamed. Every shape is driven as a generic bidi call, since on the
// wire they are all HTTP/2 streams. For streamed-in and bidi calls the first ActionCommand names the service and
// method (with the call's metadata) and each client message follows as a payload-only command; a streamed-out call
// sends one full command. The user function's responses are handled strictly in order: side effects (synchronous
// ones awaited), then the reply (an element for the client), the forward (whose result becomes the element) or the
// failure (which ends the call with UNKNOWN and cancels the user-function stream); a response without any emits
// nothing.
#include <deque>
#include <mutex>

#include <grpcpp/generic/generic_stub.h>

#include "entities.hpp"
#include "uf_stream.hpp"

namespace actorstate::bridge {

namespace {

using byte_stream = uf_stream<grpc::ByteBuffer, grpc::ByteBuffer>;

grpc::ByteBuffer to_buffer(const google::protobuf::Message& msg) {
  grpc::Slice slice{msg.SerializeAsString()};
  return grpc::ByteBuffer{&slice, 1};
}

class action_session final : public detail::action_stream, public std::enable_shared_from_this<action_session> {
public:
  action_session(std::shared_ptr<const uf_context> ctx, std::string service_name,
                 const google::protobuf::MethodDescriptor* method, std::vector<metadata_entry> metadata,
                 detail::action_stream_sink sink, detail::call_router route)
      : ctx_(std::move(ctx)),
        service_name_(std::move(service_name)),
        method_(method),
        metadata_(std::move(metadata)),
        sink_(std::move(sink)),
        route_(std::move(route)) {}

  void start() {
    auto rpc = method_->client_streaming() ? (method_->server_streaming() ? "handleStreamed" : "handleStreamedIn")
                                           : "handleStreamedOut";
    auto path = std::string{"/cloudstate.action.ActionProtocol/"} + rpc;
    auto stub = std::make_shared<grpc::GenericStub>(ctx_->channel);
    std::weak_ptr<action_session> weak = shared_from_this();
    stream_ = byte_stream::open(
        [stub, path](grpc::ClientContext* c, auto* reactor) {
          stub->PrepareBidiStreamingCall(c, path, grpc::StubOptions{}, reactor);
        },
        [weak](grpc::ByteBuffer buf) {
          if (auto self = weak.lock())
            self->on_response(buf);
        },
        [weak](grpc::Status status) {
          if (auto self = weak.lock())
            self->on_stream_end(status);
        });
    if (method_->client_streaming()) {
      auto first = command_header();
      stream_->write(to_buffer(first));
    }
  }

  void send(std::string payload) override {
    cloudstate::action::ActionCommand cmd;
    if (method_->client_streaming()) {
      *cmd.mutable_payload() = any_of(std::move(payload));
      stream_->write(to_buffer(cmd));
      return;
    }
    std::lock_guard<std::mutex> guard{mtx_};
    if (sent_)
      return;  // A server-streaming call has one request.
    sent_ = true;
    cmd = command_header();
    *cmd.mutable_payload() = any_of(std::move(payload));
    stream_->write(to_buffer(cmd));
    stream_->close();
  }

  void half_close() override {
    if (method_->client_streaming()) {
      stream_->close();
      return;
    }
    std::lock_guard<std::mutex> guard{mtx_};
    if (!sent_) {
      sent_ = true;
      stream_->cancel();
      finish_locked(command_result::failure(status_code::invalid_argument, "no request message"));
    }
  }

  void cancel() override { stream_->cancel(); }

private:
  cloudstate::action::ActionCommand command_header() const {
    cloudstate::action::ActionCommand cmd;
    cmd.set_service_name(service_name_);
    cmd.set_name(method_->name());
    for (const auto& entry : metadata_) {
      auto* e = cmd.mutable_metadata()->add_entries();
      e->set_key(entry.key);
      e->set_string_value(entry.value);
    }
    return cmd;
  }

  google::protobuf::Any any_of(std::string payload) const {
    google::protobuf::Any any;
    any.set_type_url(type_url_of(method_->input_type()));
    any.set_value(std::move(payload));
    return any;
  }

  void on_response(const grpc::ByteBuffer& buf) {
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (buf.Dump(&slices).ok())
      for (auto& s : slices)
        bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    auto response = std::make_shared<cloudstate::action::ActionResponse>();
    if (!response->ParseFromString(bytes)) {
      ctx_->report_error("unparsable ActionResponse from " + service_name_ + "/" + method_->name());
      enqueue([this](std::function<void()> next) {
        stream_->cancel();
        finish(command_result::failure(status_code::internal, "the user function violated the protocol"));
        next();
      });
      return;
    }
    for (const auto& effect : response->side_effects()) {
      enqueue([this, effect](std::function<void()> next) {
        auto done = [next, sync = effect.synchronous()](command_result) {
          if (sync)
            next();
        };
        route_(effect.service_name(), effect.command_name(), effect.payload().value(), done);
        if (!effect.synchronous())
          next();
      });
    }
    enqueue([this, response](std::function<void()> next) {
      switch (response->response_case()) {
        case cloudstate::action::ActionResponse::kReply:
          sink_.element(response->reply().payload().value());
          next();
          break;
        case cloudstate::action::ActionResponse::kFailure:
          stream_->cancel();
          finish(command_result::failure(status_code::unknown, response->failure().description()));
          next();
          break;
        case cloudstate::action::ActionResponse::kForward: {
          const auto& fwd = response->forward();
          route_(fwd.service_name(), fwd.command_name(), fwd.payload().value(), [this, next](command_result r) {
            if (r.ok()) {
              sink_.element(std::move(r.payload));
            } else {
              stream_->cancel();
              finish(std::move(r));
            }
            next();
          });
          break;
        }
        case cloudstate::action::ActionResponse::RESPONSE_NOT_SET:
          next();
          break;
      }
    });
  }

  void on_stream_end(const grpc::Status& status) {
    enqueue([this, status](std::function<void()> next) {
      if (status.ok())
        finish(command_result::success({}));
      else if (status.error_code() == grpc::StatusCode::CANCELLED)
        finish(command_result::failure(status_code::cancelled, "cancelled"));
      else
        finish(
            command_result::failure(status_code::unavailable, "user function stream broke: " + status.error_message()));
      next();
    });
  }

  void finish(command_result r) {
    std::lock_guard<std::mutex> guard{mtx_};
    finish_locked(std::move(r));
  }

  void finish_locked(command_result r) {
    if (ended_)
      return;
    ended_ = true;
    sink_.end(std::move(r));
  }

  /// Runs steps one after another; a step calls `next` (from any thread) when it is done. The session stays alive
  /// while steps are pending.
  void enqueue(std::function<void(std::function<void()>)> step) {
    std::unique_lock<std::mutex> lock{steps_mtx_};
    steps_.push_back(std::move(step));
    if (running_)
      return;
    running_ = true;
    lock.unlock();
    run_next();
  }

  void run_next() {
    std::unique_lock<std::mutex> lock{steps_mtx_};
    if (steps_.empty()) {
      running_ = false;
      return;
    }
    auto step = std::move(steps_.front());
    steps_.pop_front();
    lock.unlock();
    auto self = shared_from_this();
    step([self] { self->run_next(); });
  }

  std::shared_ptr<const uf_context> ctx_;
  std::string service_name_;
  const google::protobuf::MethodDescriptor* method_;
  std::vector<metadata_entry> metadata_;
  detail::action_stream_sink sink_;
  detail::call_router route_;
  std::shared_ptr<byte_stream> stream_;
  std::mutex mtx_;
  bool sent_ = false;
  bool ended_ = false;
  std::mutex steps_mtx_;
  std::deque<std::function<void(std::function<void()>)>> steps_;
  bool running_ = false;
};

}  // namespace

std::shared_ptr<detail::action_stream> open_action_stream(const std::shared_ptr<const uf_context>& ctx,
                                                          const std::string& service_name,
                                                          const google::protobuf::MethodDescriptor* method,
                                                          std::vector<metadata_entry> metadata,
                                                          detail::action_stream_sink sink, detail::call_router route) {
  auto session = std::make_shared<action_session>(ctx, service_name, method, std::move(metadata), std::move(sink),
                                                  std::move(route));
  session->start();
  return session;
}

}  // namespace actorstate::bridge
