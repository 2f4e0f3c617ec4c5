// Helpers shared by the entity streams and actions: a bidi reactor that alternates strictly between one read and
// at most one write (the proxy sends an entity one command at a time and expects exactly one reply per command,
// in order), Any, Forward and SideEffect construction, and running user code so that an exception becomes a
// status.
#pragma once

#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/any.pb.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/repeated_ptr_field.h>
#include <grpcpp/support/server_callback.h>

#include "actorstate/detail/model.hpp"
#include "cloudstate/entity.pb.h"

namespace actorstate::uf {

/// Runs `f`; `internal` with the exception's text if it throws. SDK handlers throw only on bugs, never for expected
/// failures, so an exception means the entity's local state can no longer be trusted.
template <class F>
status run_guarded(F&& f) {
  try {
    f();
    return {};
  } catch (const std::exception& e) {
    return {status_code::internal, e.what()};
  } catch (...) {
    return {status_code::internal, "unknown exception"};
  }
}

inline void set_any(google::protobuf::Any& any, std::string type_url, std::string value) {
  any.set_type_url(std::move(type_url));
  any.set_value(std::move(value));
}

/// The protocol's Forward for a handler's forward; the proxy invokes it and answers the caller with its reply.
inline void set_forward(cloudstate::Forward& forward, detail::effect_call call) {
  forward.set_service_name(std::move(call.service_name));
  forward.set_command_name(std::move(call.method));
  set_any(*forward.mutable_payload(), std::move(call.payload.type), std::move(call.payload.payload));
}

/// Appends the handler's side effects, in the order it asked for them.
inline void add_side_effects(google::protobuf::RepeatedPtrField<cloudstate::SideEffect>& out,
                             std::vector<detail::effect_call>& calls) {
  for (auto& call : calls) {
    auto* effect = out.Add();
    effect->set_service_name(std::move(call.service_name));
    effect->set_command_name(std::move(call.method));
    set_any(*effect->mutable_payload(), std::move(call.payload.type), std::move(call.payload.payload));
    effect->set_synchronous(call.synchronous);
  }
}

/// The reply type of `method` as registered with the model (the service's output type; validated at add).
inline const google::protobuf::Descriptor* output_type(const detail::model_base& model, const std::string& method) {
  auto i = model.methods.find(method);
  if (i != model.methods.end())
    return i->second.output;
  const auto* m = model.service != nullptr ? model.service->FindMethodByName(method) : nullptr;
  return m != nullptr ? m->output_type() : nullptr;
}

/// A bidi reactor that reads one message, lets the subclass answer it with nothing (`next`), a message (`send`)
/// or a final message (`send_and_finish`), and only then reads the next one. The proxy half-closing the stream
/// finishes it with OK. Deletes itself when gRPC is done with it.
template <class In, class Out>
class serial_stream : public grpc::ServerBidiReactor<In, Out> {
public:
  void OnReadDone(bool ok) final {
    if (!ok) {
      this->Finish(grpc::Status::OK);
      return;
    }
    on_message();
  }

  void OnWriteDone(bool ok) final {
    if (finishing_)
      return;
    if (!ok) {
      // The proxy went away mid-reply; every RPC must still be finished exactly once.
      finishing_ = true;
      this->Finish(grpc::Status{grpc::StatusCode::CANCELLED, "stream closed while replying"});
      return;
    }
    next();
  }

  void OnDone() final { delete this; }

protected:
  /// Handles `in_`; must end with exactly one of `next`, `send` or `send_and_finish`.
  virtual void on_message() = 0;

  void next() { this->StartRead(&in_); }
  void send() { this->StartWrite(&out_); }
  void send_and_finish() {
    finishing_ = true;
    this->StartWriteAndFinish(&out_, grpc::WriteOptions{}, grpc::Status::OK);
  }

  In in_;
  Out out_;

private:
  bool finishing_ = false;
};

}  // namespace actorstate::uf
