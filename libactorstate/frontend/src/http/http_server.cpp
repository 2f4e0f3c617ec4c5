#include "http/http_server.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>

#include <google/protobuf/descriptor.h>
#include <microhttpd.h>

#include "actorstate/frontend/calls.hpp"
#include "actorstate/ops/log.hpp"
#include "http/grpc_web.hpp"
#include "http/transcoder.hpp"

namespace actorstate::http {

namespace {

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// JSON string literal (for error bodies).
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

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

/// RFC 9110 §5.6.2 token characters, all a field name may hold.
bool token_char(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// What a request's framing headers say, gathered over all of them (libmicrohttpd keeps every header line, but
/// frames the body by the first Content-Length, and by "chunked" even when a Content-Length is there too).
struct framing {
  std::optional<std::string> content_length;  // the one value all Content-Length headers and list items agree on
  int transfer_encodings = 0;
  bool chunked_only = true;  // every Transfer-Encoding header is exactly "chunked"
  const char* error = nullptr;

  void add(std::string_view key, std::string_view value) {
    if (error != nullptr)
      return;
    if (key.empty() || !std::all_of(key.begin(), key.end(), [](char c) { return token_char(c); })) {
      // "Transfer-Encoding : chunked" arrives as a header named "Transfer-Encoding " that frames nothing here but
      // might frame the body for a proxy in front (RFC 9112 §5.1: whitespace before the colon is a 400).
      error = "malformed header field name";
      return;
    }
    if (lower(key) == "content-length") {
      size_t pos = 0;
      for (;;) {
        auto comma = value.find(',', pos);
        auto item = trim_ows(value.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
        if (item.empty() || !std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; })) {
          error = "invalid Content-Length";
          return;
        }
        if (content_length && *content_length != item) {
          error = "conflicting Content-Length headers";
          return;
        }
        content_length = std::string{item};
        if (comma == std::string_view::npos)
          break;
        pos = comma + 1;
      }
    } else if (lower(key) == "transfer-encoding") {
      ++transfer_encodings;
      if (lower(trim_ows(value)) != "chunked")
        chunked_only = false;
    }
  }

  /// Why the request cannot be framed unambiguously (RFC 9112 §6.3), or nullptr.
  const char* verdict() const {
    if (error != nullptr)
      return error;
    if (transfer_encodings > 0 && content_length)
      return "both Content-Length and Transfer-Encoding";
    if (transfer_encodings > 1 || !chunked_only)
      return "unsupported Transfer-Encoding";
    return nullptr;
  }
};

/// A complete response, prepared on whatever thread the result arrived on.
struct prepared {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

enum class stream_format { grpc_web, sse, ndjson, raw };

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

/// One HTTP request from its first byte to its completion. Shared by MHD's threads (the access handler and the
/// content reader, never at once for one connection) and the thread the runtime answers on; `mtx` guards what they
/// share. The connection is suspended while the call waits, and resumed only under `mtx` and only if suspended,
/// so it is never touched after MHD completed it (a suspended connection cannot complete).
struct call_state : std::enable_shared_from_this<call_state> {
  MHD_Connection* conn = nullptr;

  // The request, filled by MHD's thread before the call starts.
  std::string uri;
  std::string method;
  std::string content_type;
  std::string accept;
  std::string origin;
  std::vector<metadata_entry> metadata;
  std::string body;
  bool too_large = false;
  bool initialized = false;
  bool started = false;
  bool grpc_web_text = false;  // the base64 variant of gRPC-web
  bool counted = false;        // took part in the frontend's drain count

  std::mutex mtx;
  bool suspended = false;
  bool completed = false;  // MHD is done with the connection
  std::optional<prepared> ready;
  bool queued = false;

  // Streamed replies.
  bool streaming = false;
  stream_format format = stream_format::ndjson;
  const binding* rule = nullptr;
  std::string pending;  // bytes not yet handed to MHD
  bool stream_ended = false;
  bool header_decided = false;  // the response (status and headers) is queued
  std::shared_ptr<detail::action_stream> stream;
  std::vector<std::pair<std::string, std::string>> cors;

  /// Resumes the connection if it waits; requires mtx.
  void wake() {
    if (suspended && !completed) {
      suspended = false;
      MHD_resume_connection(conn);
    }
  }

  void finish(prepared p) {
    std::lock_guard<std::mutex> guard{mtx};
    if (ready || queued)
      return;
    ready = std::move(p);
    wake();
  }
};

struct http_server::impl {
  frontend::calls& fe;
  const transcoder& tc;
  http_options opts;
  MHD_Daemon* daemon = nullptr;
  std::mutex live_mtx;
  std::set<std::shared_ptr<call_state>> live;
  bool stopping = false;

  impl(frontend::calls& f, const transcoder& t, http_options o) : fe(f), tc(t), opts(std::move(o)) {}

  std::vector<std::pair<std::string, std::string>> cors_headers(const std::string& origin) const {
    if (origin.empty())
      return {};
    bool allowed = std::find(opts.cors_origins.begin(), opts.cors_origins.end(), "*") != opts.cors_origins.end() ||
                   std::find(opts.cors_origins.begin(), opts.cors_origins.end(), origin) != opts.cors_origins.end();
    if (!allowed)
      return {};
    return {{"Access-Control-Allow-Origin", origin},
            {"Vary", "Origin"},
            {"Access-Control-Expose-Headers", "grpc-status, grpc-message, grpc-status-details-bin"}};
  }

  /// A failed call's answer over HTTP/JSON. Like every answer to a client, it carries `client_code` of the status.
  prepared error(const status& why) const {
    auto code = client_code(why.code());
    const auto& message = why.message();
    prepared p;
    p.status = static_cast<unsigned>(http_status(code));
    if (code == status_code::unknown) {
      p.content_type = "text/plain; charset=utf-8";
      p.body = message;
    } else {
      p.content_type = "application/json";
      p.body = "{\"code\":" + std::to_string(static_cast<int>(code)) + ",\"message\":" + quoted(message) + "}";
    }
    return p;
  }

  /// A gRPC-web answer with no messages: the status in the headers ("trailers-only").
  static prepared grpc_web_status(const call_state& s, const status& why) {
    auto code = client_code(why.code());
    const auto& message = why.message();
    prepared p;
    p.content_type = s.content_type;
    p.headers.push_back({"grpc-status", std::to_string(static_cast<int>(code))});
    if (!message.empty())
      p.headers.push_back({"grpc-message", grpc_web::encode_message(message)});
    return p;
  }

  MHD_Result queue(call_state& s, prepared p) {
    auto* resp = MHD_create_response_from_buffer(p.body.size(), p.body.data(), MHD_RESPMEM_MUST_COPY);
    if (!p.content_type.empty())
      MHD_add_response_header(resp, "Content-Type", p.content_type.c_str());
    for (const auto& [k, v] : s.cors)
      MHD_add_response_header(resp, k.c_str(), v.c_str());
    for (const auto& [k, v] : p.headers)
      MHD_add_response_header(resp, k.c_str(), v.c_str());
    auto rc = MHD_queue_response(s.conn, p.status, resp);
    MHD_destroy_response(resp);
    return rc;
  }

  /// Suspends the connection until the call's answer is ready, or queues the answer if it already is.
  MHD_Result wait_or_answer(call_state& s) {
    std::unique_lock<std::mutex> lock{s.mtx};
    if (s.streaming && s.header_decided) {
      lock.unlock();
      return MHD_YES;
    }
    if (s.streaming && (!s.pending.empty() || s.stream_ended) && !s.ready) {
      s.header_decided = true;
      lock.unlock();
      return queue_stream(s);
    }
    if (s.ready) {
      auto p = std::move(*s.ready);
      s.ready.reset();
      s.queued = true;
      lock.unlock();
      return queue(s, std::move(p));
    }
    s.suspended = true;
    MHD_suspend_connection(s.conn);
    return MHD_YES;
  }

  MHD_Result queue_stream(call_state& s) {
    auto* resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, &read_stream, &s, nullptr);
    const char* ct = "application/x-ndjson";
    switch (s.format) {
      case stream_format::grpc_web:
        ct = s.content_type.c_str();
        break;
      case stream_format::sse:
        ct = "text/event-stream";
        break;
      case stream_format::ndjson:
        break;
      case stream_format::raw:
        ct = "application/octet-stream";
        break;
    }
    MHD_add_response_header(resp, "Content-Type", ct);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    for (const auto& [k, v] : s.cors)
      MHD_add_response_header(resp, k.c_str(), v.c_str());
    auto rc = MHD_queue_response(s.conn, 200, resp);
    MHD_destroy_response(resp);
    return rc;
  }

  static ssize_t read_stream(void* cls, uint64_t, char* buf, size_t max) {
    auto& s = *static_cast<call_state*>(cls);
    std::lock_guard<std::mutex> guard{s.mtx};
    if (!s.pending.empty()) {
      auto n = std::min(max, s.pending.size());
      std::memcpy(buf, s.pending.data(), n);
      s.pending.erase(0, n);
      return static_cast<ssize_t>(n);
    }
    if (s.stream_ended)
      return MHD_CONTENT_READER_END_OF_STREAM;
    s.suspended = true;
    MHD_suspend_connection(s.conn);
    return 0;
  }

  // --- dispatch ---

  MHD_Result start_call(call_state& s) {
    s.cors = cors_headers(s.origin);
    if (s.method == "OPTIONS" && !s.origin.empty()) {
      prepared p;
      p.status = 204;
      if (!s.cors.empty()) {
        p.headers.push_back({"Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS"});
        const char* asked = MHD_lookup_connection_value(s.conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
        p.headers.push_back({"Access-Control-Allow-Headers", asked != nullptr ? asked : "content-type"});
        p.headers.push_back({"Access-Control-Max-Age", "600"});
      }
      return queue(s, std::move(p));
    }
    s.counted = fe.begin_call();
    if (!s.counted)
      return queue(s, error({status_code::unavailable, "the node is shutting down"}));
    bool text = false;
    if (grpc_web::is_grpc_web(s.content_type, text))
      return start_grpc_web(s, text);
    return start_transcoded(s);
  }

  MHD_Result start_grpc_web(call_state& s, bool text) {
    s.grpc_web_text = text;
    auto path = s.uri.substr(0, s.uri.find('?'));
    const auto* r = fe.find(path);
    if (r == nullptr)
      return queue(s, grpc_web_status(s, {status_code::unimplemented, "unknown service or method " + path}));
    if (s.too_large)
      return queue(s, grpc_web_status(s, {status_code::resource_exhausted, "request over the size limit"}));
    std::optional<std::string> raw = text ? grpc_web::base64_decode(s.body) : std::optional<std::string>{s.body};
    auto msgs = raw ? grpc_web::messages(*raw) : std::nullopt;
    if (!msgs)
      return queue(s, grpc_web_status(s, {status_code::invalid_argument, "malformed gRPC-web request body"}));
    s.format = stream_format::grpc_web;
    if (r->open_stream) {
      open_stream(s, *r, std::move(*msgs));
      return wait_or_answer(s);
    }
    if (msgs->size() != 1)
      return queue(s, grpc_web_status(s, {status_code::invalid_argument, "a unary call takes exactly one message"}));
    auto self = s.shared_from_this();
    fe.call(*r, std::move(msgs->front()), s.metadata, [this, self, text](command_result result) {
      if (!result.ok()) {
        self->finish(grpc_web_status(*self, result.status));
        return;
      }
      prepared p;
      p.content_type = self->content_type;
      p.body = grpc_web::data_frame(result.payload) + grpc_web::trailers_frame(status_code::ok, {});
      if (text)
        p.body = grpc_web::base64_encode(p.body);
      add_metadata(p, result);
      self->finish(std::move(p));
    });
    return wait_or_answer(s);
  }

  MHD_Result start_transcoded(call_state& s) {
    if (s.too_large)
      return queue(s, error({status_code::resource_exhausted, "request over the size limit"}));
    request req;
    auto q = s.uri.find('?');
    req.method = s.method;
    req.path = s.uri.substr(0, q);
    req.query = q == std::string::npos ? std::string{} : s.uri.substr(q + 1);
    req.content_type = s.content_type;
    req.body = std::move(s.body);
    auto matched = tc.match(req);
    if (!matched.ok()) {
      // A request that does not transcode is answered in plain text (a failed call's answer is JSON: `error`).
      prepared p;
      p.status = static_cast<unsigned>(http_status(matched.error().code()));
      p.content_type = "text/plain; charset=utf-8";
      p.body = matched.error().message();
      return queue(s, std::move(p));
    }
    auto& c = matched.value();
    const auto* r = fe.find(c.method);
    if (r == nullptr)
      return queue(s, error({status_code::unimplemented, "no handler for " + c.method->full_name()}));
    s.rule = c.rule;
    if (r->open_stream) {
      if (transcoder::server_streaming(*c.rule)) {
        s.format = s.accept.find("text/event-stream") != std::string::npos ? stream_format::sse : stream_format::ndjson;
      }
      std::vector<std::string> msgs;
      msgs.push_back(std::move(c.payload));
      open_stream(s, *r, std::move(msgs));
      return wait_or_answer(s);
    }
    auto self = s.shared_from_this();
    const auto* rule = c.rule;
    fe.call(*r, std::move(c.payload), s.metadata, [this, self, rule](command_result result) {
      if (!result.ok()) {
        self->finish(error(result.status));
        return;
      }
      auto out = tc.render(*rule, result.payload);
      if (!out.ok()) {
        self->finish(error(out.error()));
        return;
      }
      prepared p;
      p.content_type = std::move(out->content_type);
      p.body = std::move(out->body);
      add_metadata(p, result);
      self->finish(std::move(p));
    });
    return wait_or_answer(s);
  }

  static void add_metadata(prepared& p, const command_result& result) {
    for (const auto& entry : result.metadata) {
      auto key = lower(entry.key);
      if (valid_response_header(key))
        p.headers.push_back({key, entry.value});
    }
  }

  /// A streaming action method: every message goes in, then the client's end; elements come back as a stream
  /// (gRPC-web frames, server-sent events or newline-delimited JSON), or as one response for a method that does not
  /// stream its replies.
  void open_stream(call_state& s, const frontend::route& r, std::vector<std::string> msgs) {
    bool streams_out = r.descriptor->server_streaming();
    s.streaming = streams_out;
    auto self = s.shared_from_this();
    detail::action_stream_sink sink;
    sink.element = [this, self](std::string payload) { on_element(*self, std::move(payload)); };
    sink.end = [this, self](command_result end) { on_end(*self, std::move(end)); };
    s.stream = r.open_stream(s.metadata, std::move(sink), fe.router());
    for (auto& m : msgs)
      s.stream->send(std::move(m));
    s.stream->half_close();
  }

  /// One reply element in the stream's format; render's error if the element does not render.
  result<std::string> encode_element(call_state& s, const std::string& payload) {
    if (s.format == stream_format::grpc_web)
      return grpc_web::data_frame(payload);
    auto out = tc.render(*s.rule, payload);
    if (!out.ok())
      return out.error();
    if (s.format == stream_format::sse)
      return "data: " + out->body + "\n\n";
    if (out->content_type != "application/json") {
      s.format = stream_format::raw;
      return std::move(out->body);
    }
    return out->body + "\n";
  }

  void on_element(call_state& s, std::string payload) {
    std::lock_guard<std::mutex> guard{s.mtx};
    if (s.stream_ended || s.completed)
      return;
    if (!s.streaming) {
      // A method with one reply (client streaming): the element is the answer.
      s.pending = std::move(payload);
      return;
    }
    auto encoded = encode_element(s, payload);
    // An element that does not render is left out; the stream goes on with the next one.
    auto bytes = encoded.ok() ? std::move(encoded).value() : std::string{};
    if (s.format == stream_format::grpc_web && s.grpc_web_text)
      bytes = grpc_web::base64_encode(bytes);
    s.pending += bytes;
    s.wake();
  }

  void on_end(call_state& s, command_result end) {
    std::lock_guard<std::mutex> guard{s.mtx};
    if (s.stream_ended || s.completed)
      return;
    s.stream_ended = true;
    bool grpcweb = s.format == stream_format::grpc_web;
    bool text = s.grpc_web_text;
    if (!s.streaming) {
      // One reply: answer as a unary call would.
      prepared p;
      if (!end.ok()) {
        p = grpcweb ? grpc_web_status(s, end.status) : error(end.status);
      } else if (grpcweb) {
        p.content_type = s.content_type;
        p.body = grpc_web::data_frame(s.pending) + grpc_web::trailers_frame(status_code::ok, {});
        if (text)
          p.body = grpc_web::base64_encode(p.body);
      } else {
        if (auto out = tc.render(*s.rule, s.pending); out.ok()) {
          p.content_type = std::move(out->content_type);
          p.body = std::move(out->body);
        } else {
          p = error(out.error());
        }
      }
      s.pending.clear();
      s.ready = std::move(p);
      s.wake();
      return;
    }
    if (!s.header_decided && s.pending.empty() && !end.ok()) {
      // Nothing sent yet: the failure can still be the response's status.
      s.ready = grpcweb ? grpc_web_status(s, end.status) : error(end.status);
      s.wake();
      return;
    }
    if (grpcweb) {
      auto trailers =
          grpc_web::trailers_frame(client_code(end.status.code()), end.ok() ? std::string{} : end.status.message());
      s.pending += text ? grpc_web::base64_encode(trailers) : trailers;
    } else if (!end.ok()) {
      // The status is sent already; tell the client in the stream's own format.
      auto err = "{\"error\":{\"code\":" + std::to_string(static_cast<int>(client_code(end.status.code()))) +
                 ",\"message\":" + quoted(end.status.message()) + "}}";
      if (s.format == stream_format::sse)
        s.pending += "event: error\ndata: " + err + "\n\n";
      else if (s.format == stream_format::ndjson)
        s.pending += err + "\n";
    }
    s.wake();
  }

  // --- MHD callbacks ---

  static void* on_uri(void* cls, const char* uri, MHD_Connection* conn) {
    auto* self = static_cast<impl*>(cls);
    auto s = std::make_shared<call_state>();
    s->conn = conn;
    s->uri = uri != nullptr ? uri : "";
    {
      std::lock_guard<std::mutex> guard{self->live_mtx};
      self->live.insert(s);
    }
    return new std::shared_ptr<call_state>(std::move(s));
  }

  static MHD_Result collect_header(void* cls, MHD_ValueKind, const char* key, const char* value) {
    auto& s = *static_cast<call_state*>(cls);
    auto k = lower(key != nullptr ? key : "");
    std::string v = value != nullptr ? value : "";
    if (k == "content-type")
      s.content_type = v;
    else if (k == "accept")
      s.accept = v;
    else if (k == "origin")
      s.origin = v;
    if (forwarded_header(k))
      s.metadata.push_back({std::move(k), std::move(v)});
    return MHD_YES;
  }

  static MHD_Result collect_framing(void* cls, MHD_ValueKind, const char* key, const char* value) {
    static_cast<framing*>(cls)->add(key != nullptr ? key : "", value != nullptr ? value : "");
    return MHD_YES;
  }

  /// A request whose length is ambiguous is answered 400 and its connection closed before any of its body is read:
  /// whatever follows on the connection could be a second request hidden from a proxy in front (request smuggling).
  MHD_Result reject_ambiguous_framing(call_state& s, const char* why) {
    log::debug("HTTP request with ambiguous framing refused", {{"reason", why}});
    auto p = error({status_code::invalid_argument, std::string{"bad request framing: "} + why});
    p.headers.push_back({"Connection", "close"});
    return queue(s, std::move(p));
  }

  static MHD_Result on_request(void* cls, MHD_Connection* conn, const char*, const char* method, const char*,
                               const char* upload_data, size_t* upload_data_size, void** con_cls) {
    auto* self = static_cast<impl*>(cls);
    if (*con_cls == nullptr)
      return MHD_NO;  // every request got its state in on_uri
    auto& s = **static_cast<std::shared_ptr<call_state>*>(*con_cls);
    if (!s.initialized) {
      s.initialized = true;
      s.method = method;
      framing f;
      MHD_get_connection_values(conn, MHD_HEADER_KIND, &collect_framing, &f);
      if (const char* why = f.verdict())
        return self->reject_ambiguous_framing(s, why);
      MHD_get_connection_values(conn, MHD_HEADER_KIND, &collect_header, &s);
      return MHD_YES;
    }
    if (*upload_data_size > 0) {
      if (s.body.size() + *upload_data_size > self->opts.max_message_size)
        s.too_large = true;
      else
        s.body.append(upload_data, *upload_data_size);
      *upload_data_size = 0;
      return MHD_YES;
    }
    if (!s.started) {
      s.started = true;
      return self->start_call(s);
    }
    return self->wait_or_answer(s);
  }

  static void on_completed(void* cls, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
    auto* self = static_cast<impl*>(cls);
    if (con_cls == nullptr || *con_cls == nullptr)
      return;
    auto* holder = static_cast<std::shared_ptr<call_state>*>(*con_cls);
    auto s = *holder;
    delete holder;
    *con_cls = nullptr;
    std::shared_ptr<detail::action_stream> stream;
    {
      std::lock_guard<std::mutex> guard{s->mtx};
      s->completed = true;
      stream = std::move(s->stream);
    }
    if (stream)
      stream->cancel();
    if (s->counted)
      self->fe.end_call();
    std::lock_guard<std::mutex> guard{self->live_mtx};
    self->live.erase(s);
  }
};

http_server::http_server(frontend::calls& fe, const transcoder& tc, http_options opts)
    : impl_(std::make_unique<impl>(fe, tc, std::move(opts))) {}

http_server::~http_server() {
  stop();
}

status http_server::start() {
  auto& s = *impl_;
  s.daemon = MHD_start_daemon(
      MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0,
      nullptr, nullptr, &impl::on_request, &s, MHD_OPTION_URI_LOG_CALLBACK, &impl::on_uri, &s,
      MHD_OPTION_NOTIFY_COMPLETED, &impl::on_completed, &s, MHD_OPTION_THREAD_POOL_SIZE, std::max(1u, s.opts.threads),
      MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
  if (s.daemon == nullptr)
    return {status_code::unavailable, "cannot start the HTTP server"};
  return {};
}

void http_server::add_connection(int fd, const sockaddr* addr, socklen_t addr_len) {
  auto& s = *impl_;
  if (s.daemon == nullptr || MHD_add_connection(s.daemon, fd, addr, addr_len) != MHD_YES) {
    // MHD closes the socket when it refuses it.
    log::warn("HTTP connection refused");
  }
}

void http_server::stop() {
  auto& s = *impl_;
  if (s.daemon == nullptr)
    return;
  // Every suspended call is woken with an answer first: MHD must not be stopped with suspended connections.
  std::vector<std::shared_ptr<call_state>> live;
  {
    std::lock_guard<std::mutex> guard{s.live_mtx};
    live.assign(s.live.begin(), s.live.end());
  }
  for (auto& c : live) {
    std::shared_ptr<detail::action_stream> stream;
    {
      std::lock_guard<std::mutex> guard{c->mtx};
      stream = c->stream;
      if (!c->ready && !c->queued)
        c->ready = s.error({status_code::unavailable, "the node is shutting down"});
      c->stream_ended = true;
      c->wake();
    }
    if (stream)
      stream->cancel();
  }
  MHD_stop_daemon(s.daemon);
  s.daemon = nullptr;
}

}  // namespace actorstate::http
