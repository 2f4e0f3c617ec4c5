#include "http/exchange.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <mutex>
#include <optional>
#include <set>

#include <google/protobuf/descriptor.h>

#include "actorstate/frontend/calls.hpp"
#include "actorstate/ops/json.hpp"
#include "http/grpc_web.hpp"
#include "http/transcoder.hpp"

namespace actorstate::http {

namespace {

/// Request headers a call passes on as metadata: not the ones about this hop or this message's framing.
bool forwarded_header(const std::string& key) {
  static const std::set<std::string> skipped = {"connection",     "content-length", "content-type", "transfer-encoding",
                                                "keep-alive",     "upgrade",        "te",           "host",
                                                "accept-encoding"};
  return !key.empty() && key.substr(0, 5) != "grpc-" && !skipped.count(key);
}

/// Reply metadata a response may carry as headers.
bool valid_response_header(const std::string& key) {
  return !key.empty() && key.substr(0, 5) != "grpc-" &&
         key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_.") == std::string::npos;
}

/// How an answer's body is written.
enum class body_format {
  grpc_web,  // gRPC-web frames, the trailers frame last
  grpc,      // gRPC frames, the status in HTTP/2 trailers
  sse,       // server-sent events of rendered elements
  ndjson,    // newline-delimited rendered elements
  raw,       // elements that render as something other than JSON (google.api.HttpBody), back to back
  single,    // one rendered reply (a unary method, or a method that streams only its requests)
};

}  // namespace

int http_status(status_code code) {
  switch (code) {
    case status_code::ok:
      return 200;
    case status_code::cancelled:
      return 499;
    case status_code::unknown:
      return 500;
    case status_code::invalid_argument:
      return 400;
    case status_code::deadline_exceeded:
      return 504;
    case status_code::not_found:
      return 404;
    case status_code::already_exists:
      return 409;
    case status_code::permission_denied:
      return 403;
    case status_code::resource_exhausted:
      return 413;
    case status_code::failed_precondition:
      return 400;
    case status_code::aborted:
      return 409;
    case status_code::out_of_range:
      return 400;
    case status_code::unimplemented:
      return 404;
    case status_code::internal:
      return 500;
    case status_code::unavailable:
      return 503;
    case status_code::data_loss:
      return 500;
    case status_code::unauthenticated:
      return 401;
    case status_code::conflict:  // the store's codes reach no client as such (client_code): UNAVAILABLE
    case status_code::unknown_outcome:
      return 503;
  }
  return 500;
}

void add_request_header(request_head& head, std::string_view name, std::string value) {
  auto key = ascii_lower(name);
  if (key == "content-type")
    head.content_type = value;
  else if (key == "accept")
    head.accept = value;
  else if (key == "origin")
    head.origin = value;
  else if (key == "access-control-request-headers")
    head.cors_request_headers = value;
  if (forwarded_header(key))
    head.metadata.push_back({std::move(key), std::move(value)});
}

/// One request's call. The sink is called under `mtx_`, which keeps its calls in order when a stream's elements and
/// its end arrive on different threads.
class exchange_impl final : public exchange, public std::enable_shared_from_this<exchange_impl> {
public:
  exchange_impl(exchange_handler& h, request_head head, std::shared_ptr<response_sink> sink)
      : fe_(h.fe_), tc_(h.tc_), cors_(h.cors_headers(head.origin)), head_(std::move(head)), sink_(std::move(sink)) {}

  ~exchange_impl() override { close(); }

  void close() override {
    std::shared_ptr<detail::action_stream> stream;
    bool counted;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (closed_)
        return;
      closed_ = true;
      stream = std::move(stream_);
      counted = counted_;
    }
    // Outside the lock: cancelling may end the stream at once, which comes back through `on_end`.
    if (stream)
      stream->cancel();
    if (counted)
      fe_.end_call();
  }

  void start(std::string body, bool too_large, bool trailers) {
    if (head_.method == "OPTIONS" && !head_.origin.empty()) {
      response r;
      r.status = 204;
      if (!cors_.empty()) {
        r.headers.push_back({"Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS"});
        r.headers.push_back({"Access-Control-Allow-Headers",
                             head_.cors_request_headers.empty() ? "content-type" : head_.cors_request_headers});
        r.headers.push_back({"Access-Control-Max-Age", "600"});
      }
      answer(std::move(r));
      return;
    }
    counted_ = fe_.begin_call();
    if (!counted_) {
      answer(exchange_handler::error({status_code::unavailable, "the node is shutting down"}));
      return;
    }
    bool text = false;
    if (grpc_web::is_grpc_web(head_.content_type, text)) {
      format_ = body_format::grpc_web;
      text_ = text;
      start_framed(std::move(body), too_large);
    } else if (trailers && is_plain_grpc(head_.content_type)) {
      format_ = body_format::grpc;
      start_framed(std::move(body), too_large);
    } else {
      start_transcoded(std::move(body), too_large);
    }
  }

private:
  bool framed() const { return format_ == body_format::grpc_web || format_ == body_format::grpc; }
  /// A framed answer's content type: gRPC's own, or the gRPC-web variant the client asked with.
  std::string framed_content_type() const {
    return format_ == body_format::grpc ? std::string{"application/grpc"} : head_.content_type;
  }

  // --- gRPC-web and gRPC: the body is framed messages ---

  void start_framed(std::string body, bool too_large) {
    auto path = head_.uri.substr(0, head_.uri.find('?'));
    const auto* r = fe_.find(path);
    if (r == nullptr) {
      fail({status_code::unimplemented, "unknown service or method " + path});
      return;
    }
    if (too_large) {
      fail({status_code::resource_exhausted, "request over the size limit"});
      return;
    }
    std::optional<std::string> raw =
        text_ ? grpc_web::base64_decode(body) : std::optional<std::string>{std::move(body)};
    auto msgs = raw ? grpc_web::messages(*raw) : std::nullopt;
    if (!msgs) {
      fail({status_code::invalid_argument,
            format_ == body_format::grpc ? "malformed gRPC request body" : "malformed gRPC-web request body"});
      return;
    }
    if (r->open_stream) {
      open_stream(*r, std::move(*msgs));
      return;
    }
    if (msgs->size() != 1) {
      fail({status_code::invalid_argument, "a unary call takes exactly one message"});
      return;
    }
    fe_.call(*r, std::move(msgs->front()), head_.metadata, [self = shared_from_this()](command_result result) {
      std::lock_guard<std::mutex> guard{self->mtx_};
      if (!result.ok()) {
        self->fail_locked(result.status);
        return;
      }
      self->single_ = std::move(result.payload);
      self->reply_metadata_ = std::move(result.metadata);
      self->end_framed_locked({});
    });
  }

  /// The head of a framed answer, with the call's reply metadata as headers.
  response framed_head() {
    response r;
    r.content_type = framed_content_type();
    add_metadata(r.headers, reply_metadata_);
    return r;
  }

  /// Answers a framed call that produced one reply (in `single_`) and ended with `end`. Requires mtx_.
  void end_framed_locked(const status& end) {
    if (!end.ok()) {
      fail_locked(end);
      return;
    }
    if (format_ == body_format::grpc) {
      head_locked(framed_head());
      data_locked(grpc_web::data_frame(single_));
      end_locked(status_trailers(end));
      return;
    }
    auto r = framed_head();
    r.body = grpc_web::data_frame(single_) + grpc_web::trailers_frame(status_code::ok, {});
    if (text_)
      r.body = grpc_web::base64_encode(r.body);
    answer_locked(std::move(r));
  }

  /// grpc-status and grpc-message of a call that ended with `why`.
  static header_list status_trailers(const status& why) {
    header_list out{{"grpc-status", std::to_string(static_cast<int>(client_code(why.code())))}};
    if (!why.message().empty())
      out.push_back({"grpc-message", grpc_web::encode_message(why.message())});
    return out;
  }

  // --- transcoding ---

  void start_transcoded(std::string body, bool too_large) {
    format_ = body_format::single;
    if (too_large) {
      answer(exchange_handler::error({status_code::resource_exhausted, "request over the size limit"}));
      return;
    }
    request req;
    auto q = head_.uri.find('?');
    req.method = head_.method;
    req.path = head_.uri.substr(0, q);
    req.query = q == std::string::npos ? std::string{} : head_.uri.substr(q + 1);
    req.content_type = head_.content_type;
    req.body = std::move(body);
    auto matched = tc_.match(req);
    if (!matched.ok()) {
      // A request that does not transcode is answered in plain text (a failed call's answer is JSON: `error`).
      response r;
      r.status = static_cast<unsigned>(http_status(matched.error().code()));
      r.content_type = "text/plain; charset=utf-8";
      r.body = matched.error().message();
      answer(std::move(r));
      return;
    }
    auto& c = matched.value();
    const auto* r = fe_.find(c.method);
    if (r == nullptr) {
      answer(exchange_handler::error({status_code::unimplemented, "no handler for " + c.method->full_name()}));
      return;
    }
    rule_ = c.rule;
    if (r->open_stream) {
      if (transcoder::server_streaming(*c.rule))
        format_ = head_.accept.find("text/event-stream") != std::string::npos ? body_format::sse : body_format::ndjson;
      std::vector<std::string> msgs;
      msgs.push_back(std::move(c.payload));
      open_stream(*r, std::move(msgs));
      return;
    }
    fe_.call(*r, std::move(c.payload), head_.metadata, [self = shared_from_this()](command_result result) {
      std::lock_guard<std::mutex> guard{self->mtx_};
      if (!result.ok()) {
        self->fail_locked(result.status);
        return;
      }
      self->reply_metadata_ = std::move(result.metadata);
      self->single_ = std::move(result.payload);
      self->end_single_locked();
    });
  }

  /// Answers with the one rendered reply in `single_`. Requires mtx_.
  void end_single_locked() {
    auto out = tc_.render(*rule_, single_);
    if (!out.ok()) {
      fail_locked(out.error());
      return;
    }
    response r;
    r.content_type = std::move(out->content_type);
    r.body = std::move(out->body);
    add_metadata(r.headers, reply_metadata_);
    answer_locked(std::move(r));
  }

  static void add_metadata(header_list& headers, const std::vector<metadata_entry>& metadata) {
    for (const auto& entry : metadata) {
      auto key = ascii_lower(entry.key);
      if (valid_response_header(key))
        headers.push_back({key, entry.value});
    }
  }

  // --- streaming methods ---

  /// A streaming action method: every message goes in, then the client's end; elements come back as a stream
  /// (gRPC or gRPC-web frames, server-sent events or newline-delimited JSON), or as one answer for a method that
  /// does not stream its replies.
  void open_stream(const frontend::route& r, std::vector<std::string> msgs) {
    streams_out_ = r.descriptor->server_streaming();
    auto self = shared_from_this();
    detail::action_stream_sink sink;
    sink.element = [self](std::string payload) { self->on_element(std::move(payload)); };
    sink.end = [self](command_result end) { self->on_end(std::move(end)); };
    auto stream = r.open_stream(head_.metadata, std::move(sink), fe_.router());
    bool kept;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      kept = !closed_;
      if (kept)
        stream_ = stream;
    }
    if (!kept) {
      stream->cancel();  // the client went away meanwhile
      return;
    }
    for (auto& m : msgs)
      stream->send(std::move(m));
    stream->half_close();
  }

  /// One reply element in the stream's format; render's error if the element does not render. Requires mtx_.
  result<std::string> encode_element(const std::string& payload) {
    if (framed())
      return grpc_web::data_frame(payload);
    auto out = tc_.render(*rule_, payload);
    if (!out.ok())
      return out.error();
    if (format_ == body_format::sse)
      return "data: " + out->body + "\n\n";
    if (out->content_type != "application/json") {
      format_ = body_format::raw;
      return std::move(out->body);
    }
    return out->body + "\n";
  }

  void on_element(std::string payload) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (done_)
      return;
    if (!streams_out_) {
      // A method with one reply (client streaming): the element is the answer.
      single_ = std::move(payload);
      return;
    }
    auto encoded = encode_element(payload);
    // An element that does not render is left out; the stream goes on with the next one.
    if (!encoded.ok())
      return;
    auto bytes = std::move(encoded).value();
    if (format_ == body_format::grpc_web && text_)
      bytes = grpc_web::base64_encode(bytes);
    if (!head_sent_)
      head_locked(stream_head());
    data_locked(std::move(bytes));
  }

  response stream_head() {
    response r;
    switch (format_) {
      case body_format::grpc_web:
      case body_format::grpc:
        r.content_type = framed_content_type();
        break;
      case body_format::sse:
        r.content_type = "text/event-stream";
        break;
      case body_format::raw:
        r.content_type = "application/octet-stream";
        break;
      case body_format::ndjson:
      case body_format::single:
        r.content_type = "application/x-ndjson";
        break;
    }
    r.headers.push_back({"Cache-Control", "no-cache"});
    return r;
  }

  void on_end(command_result end) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (done_)
      return;
    if (!streams_out_) {
      // One reply: answer as a unary call would.
      if (framed())
        end_framed_locked(end.status);
      else if (!end.ok())
        fail_locked(end.status);
      else
        end_single_locked();
      return;
    }
    if (!head_sent_ && !end.ok()) {
      // Nothing sent yet: the failure can still be the answer's status.
      fail_locked(end.status);
      return;
    }
    if (!head_sent_)
      head_locked(stream_head());
    if (format_ == body_format::grpc) {
      end_locked(status_trailers(end.status));
      return;
    }
    if (format_ == body_format::grpc_web) {
      auto trailers =
          grpc_web::trailers_frame(client_code(end.status.code()), end.ok() ? std::string{} : end.status.message());
      data_locked(text_ ? grpc_web::base64_encode(trailers) : trailers);
    } else if (!end.ok()) {
      // The status is sent already; tell the client in the stream's own format.
      auto err = "{\"error\":{\"code\":" + std::to_string(static_cast<int>(client_code(end.status.code()))) +
                 ",\"message\":" + ops::json_quoted(end.status.message()) + "}}";
      if (format_ == body_format::sse)
        data_locked("event: error\ndata: " + err + "\n\n");
      else if (format_ == body_format::ndjson)
        data_locked(err + "\n");
    }
    end_locked({});
  }

  // --- answers; the *_locked ones require mtx_ ---

  /// A failed call, in the format of the request.
  void fail(const status& why) {
    std::lock_guard<std::mutex> guard{mtx_};
    fail_locked(why);
  }

  void fail_locked(const status& why) {
    if (!framed()) {
      answer_locked(exchange_handler::error(why));
      return;
    }
    // "Trailers-only": no message, so the status goes in the headers.
    response r;
    r.content_type = framed_content_type();
    r.headers = status_trailers(why);
    answer_locked(std::move(r));
  }

  void answer(response r) {
    std::lock_guard<std::mutex> guard{mtx_};
    answer_locked(std::move(r));
  }

  void answer_locked(response r) {
    if (done_)
      return;
    done_ = true;
    r.headers.insert(r.headers.end(), cors_.begin(), cors_.end());
    sink_->answer(std::move(r));
  }

  void head_locked(response r) {
    head_sent_ = true;
    r.headers.insert(r.headers.end(), cors_.begin(), cors_.end());
    sink_->head(std::move(r));
  }

  void data_locked(std::string bytes) {
    if (!bytes.empty())
      sink_->data(std::move(bytes));
  }

  void end_locked(header_list trailers) {
    done_ = true;
    sink_->end(std::move(trailers));
  }

  // Not the handler: its transport may be gone when a late answer arrives; the router and the transcoder outlive
  // every exchange (exchange.hpp).
  frontend::calls& fe_;
  const transcoder& tc_;
  header_list cors_;
  request_head head_;
  std::shared_ptr<response_sink> sink_;
  bool counted_ = false;  // set by `start` before any callback can run

  std::mutex mtx_;
  bool closed_ = false;
  bool done_ = false;       // the sink had its last call
  bool head_sent_ = false;  // a streamed answer's head went out
  body_format format_ = body_format::single;
  bool text_ = false;         // gRPC-web's base64 variant
  bool streams_out_ = false;  // the method streams its replies
  const binding* rule_ = nullptr;
  std::string single_;  // the one reply of a method that does not stream its replies
  std::vector<metadata_entry> reply_metadata_;
  std::shared_ptr<detail::action_stream> stream_;
};

exchange_handler::exchange_handler(frontend::calls& fe, const transcoder& tc, http_options opts)
    : fe_(fe), tc_(tc), opts_(std::move(opts)) {}

std::shared_ptr<exchange> exchange_handler::start(request_head head, std::string body, bool too_large,
                                                  std::shared_ptr<response_sink> sink, bool trailers) {
  auto ex = std::make_shared<exchange_impl>(*this, std::move(head), std::move(sink));
  ex->start(std::move(body), too_large, trailers);
  return ex;
}

response exchange_handler::error(const status& why) {
  auto code = client_code(why.code());
  const auto& message = why.message();
  response r;
  r.status = static_cast<unsigned>(http_status(code));
  if (code == status_code::unknown) {
    r.content_type = "text/plain; charset=utf-8";
    r.body = message;
  } else {
    r.content_type = "application/json";
    r.body = "{\"code\":" + std::to_string(static_cast<int>(code)) + ",\"message\":" + ops::json_quoted(message) + "}";
  }
  return r;
}

header_list exchange_handler::cors_headers(const std::string& origin) const {
  if (origin.empty())
    return {};
  bool allowed = std::find(opts_.cors_origins.begin(), opts_.cors_origins.end(), "*") != opts_.cors_origins.end() ||
                 std::find(opts_.cors_origins.begin(), opts_.cors_origins.end(), origin) != opts_.cors_origins.end();
  if (!allowed)
    return {};
  return {{"Access-Control-Allow-Origin", origin},
          {"Vary", "Origin"},
          {"Access-Control-Expose-Headers", "grpc-status, grpc-message, grpc-status-details-bin"}};
}

}  // namespace actorstate::http
