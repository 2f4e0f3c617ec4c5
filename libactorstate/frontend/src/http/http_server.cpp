#include "http/http_server.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <microhttpd.h>
#include <sys/socket.h>

#include "actorstate/ops/log.hpp"
#include "http/exchange.hpp"
#include "http/grpc_web.hpp"

namespace actorstate::http {

namespace {

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
    if (ascii_lower(key) == "content-length") {
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
    } else if (ascii_lower(key) == "transfer-encoding") {
      ++transfer_encodings;
      if (ascii_lower(trim_ows(value)) != "chunked")
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

}  // namespace

/// One HTTP request from its first byte to its completion, and the sink of its exchange. Shared by MHD's threads
/// (the access handler and the content reader, never at once for one connection) and the thread the runtime answers
/// on; `mtx` guards what they share. The connection is suspended while the answer is not ready, and resumed only
/// under `mtx` and only if suspended, so it is never touched after MHD completed it (a suspended connection cannot
/// complete).
struct call_state final : response_sink {
  MHD_Connection* conn = nullptr;

  // The request, filled by MHD's thread before the exchange starts.
  request_head request;
  std::string body;
  bool too_large = false;
  bool initialized = false;
  std::shared_ptr<exchange> ex;  // set once started

  std::mutex mtx;
  bool suspended = false;
  bool completed = false;  // MHD is done with the connection
  std::optional<response> ready;
  bool queued = false;  // an answer or a stream's head went to MHD

  // A streamed answer.
  std::optional<response> stream_head;
  std::string pending;  // bytes not yet handed to MHD
  bool stream_ended = false;

  /// Resumes the connection if it waits; requires mtx.
  void wake() {
    if (suspended && !completed) {
      suspended = false;
      MHD_resume_connection(conn);
    }
  }

  void answer(response r) override {
    std::lock_guard<std::mutex> guard{mtx};
    if (ready || queued)
      return;
    ready = std::move(r);
    wake();
  }
  void head(response r) override {
    std::lock_guard<std::mutex> guard{mtx};
    if (ready || queued)
      return;
    stream_head = std::move(r);
    wake();
  }
  void data(std::string bytes) override {
    std::lock_guard<std::mutex> guard{mtx};
    pending += bytes;
    wake();
  }
  // HTTP/1.1 answers carry no trailers: plain gRPC is not served over it.
  void end(header_list) override {
    std::lock_guard<std::mutex> guard{mtx};
    stream_ended = true;
    wake();
  }
};

/// An open connection as `go_away` needs it: its socket, and whether a request is under way on it. MHD keeps a pointer
/// to it as the connection's socket context, so a request finds it without a lookup or a lock.
struct open_connection {
  int fd = -1;
  std::atomic<int> requests{0};
};

struct http_server::impl {
  exchange_handler handler;
  MHD_Daemon* daemon = nullptr;
  std::mutex live_mtx;
  std::set<std::shared_ptr<call_state>> live;

  // Every open connection, from MHD's "started" notification to its "closed" one; the lock is taken only then and by
  // `go_away`, never per request. MHD closes a socket only after that notification returns, so a socket found here
  // under `conns_mtx` (or by a request on its own connection) is still this connection's.
  mutable std::mutex conns_mtx;
  std::unordered_map<MHD_Connection*, std::unique_ptr<open_connection>> conns;
  // Set before `go_away` looks for idle connections, read after a request counts itself out: one of the two sees
  // the other (both sequentially consistent), so a connection that turns idle is closed by one of them.
  std::atomic<bool> going_away{false};

  impl(frontend::calls& f, const transcoder& t, http_options o) : handler(f, t, std::move(o)) {}

  /// Ends a connection between requests: the client sees the end of the stream, MHD sees it too and closes the
  /// connection. (Twice does no harm.)
  static void close_idle(const open_connection& c) {
    if (c.fd >= 0)
      ::shutdown(c.fd, SHUT_RDWR);
  }

  static open_connection* connection_of(MHD_Connection* conn) {
    const auto* info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info != nullptr ? static_cast<open_connection*>(info->socket_context) : nullptr;
  }

  MHD_Result queue(call_state& s, response r) {
    auto* resp = MHD_create_response_from_buffer(r.body.size(), r.body.data(), MHD_RESPMEM_MUST_COPY);
    if (!r.content_type.empty())
      MHD_add_response_header(resp, "Content-Type", r.content_type.c_str());
    for (const auto& [k, v] : r.headers)
      MHD_add_response_header(resp, k.c_str(), v.c_str());
    if (going_away.load())
      MHD_add_response_header(resp, "Connection", "close");
    auto rc = MHD_queue_response(s.conn, r.status, resp);
    MHD_destroy_response(resp);
    return rc;
  }

  /// Queues the answer, or a streamed answer's head, once there is one; suspends the connection until then.
  MHD_Result wait_or_answer(call_state& s) {
    std::unique_lock<std::mutex> lock{s.mtx};
    if (s.queued)
      return MHD_YES;
    if (s.ready) {
      auto r = std::move(*s.ready);
      s.ready.reset();
      s.queued = true;
      lock.unlock();
      return queue(s, std::move(r));
    }
    if (s.stream_head) {
      auto head = std::move(*s.stream_head);
      s.stream_head.reset();
      s.queued = true;
      lock.unlock();
      return queue_stream(s, std::move(head));
    }
    // See read_stream: a client that left while its call waits is noticed when the watcher wakes the call.
    if (peer_gone(s.conn))
      return MHD_NO;
    s.suspended = true;
    MHD_suspend_connection(s.conn);
    return MHD_YES;
  }

  MHD_Result queue_stream(call_state& s, response head) {
    auto* resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, &read_stream, &s, nullptr);
    MHD_add_response_header(resp, "Content-Type", head.content_type.c_str());
    for (const auto& [k, v] : head.headers)
      MHD_add_response_header(resp, k.c_str(), v.c_str());
    if (going_away.load())
      MHD_add_response_header(resp, "Connection", "close");
    auto rc = MHD_queue_response(s.conn, head.status, resp);
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
    // MHD does not watch a suspended connection: a client that leaves a waiting call (an idle stream, or one that
    // has not answered yet) is noticed here or in wait_or_answer, when the watcher wakes the call
    // (`watch_calls`), and the call ends like any whose client went away.
    if (peer_gone(s.conn))
      return MHD_CONTENT_READER_END_WITH_ERROR;
    s.suspended = true;
    MHD_suspend_connection(s.conn);
    return 0;
  }

  /// Whether the client closed the connection (or it broke). Bytes the client sent after its request are left
  /// where they are.
  static bool peer_gone(MHD_Connection* conn) {
    const auto* info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (info == nullptr || info->connect_fd < 0)
      return false;
    char byte = 0;
    auto n = ::recv(info->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  }

  // The watcher of waiting calls: every `watch_interval` it wakes each suspended call, so that wait_or_answer or
  // read_stream looks at its connection (and suspends it again).
  static constexpr std::chrono::seconds watch_interval{1};
  std::thread watcher;
  std::mutex watch_mtx;
  std::condition_variable watch_cv;
  bool watch_stop = false;

  void watch_calls() {
    std::unique_lock<std::mutex> lock{watch_mtx};
    while (!watch_cv.wait_for(lock, watch_interval, [this] { return watch_stop; })) {
      std::vector<std::shared_ptr<call_state>> calls;
      {
        std::lock_guard<std::mutex> guard{live_mtx};
        calls.assign(live.begin(), live.end());
      }
      for (auto& c : calls) {
        std::lock_guard<std::mutex> guard{c->mtx};
        c->wake();
      }
    }
  }

  // --- MHD callbacks ---

  static void* on_uri(void* cls, const char* uri, MHD_Connection* conn) {
    auto* self = static_cast<impl*>(cls);
    auto s = std::make_shared<call_state>();
    s->conn = conn;
    s->request.uri = uri != nullptr ? uri : "";
    {
      std::lock_guard<std::mutex> guard{self->live_mtx};
      self->live.insert(s);
    }
    if (auto* c = connection_of(conn))
      ++c->requests;
    return new std::shared_ptr<call_state>(std::move(s));
  }

  static void on_connection(void* cls, MHD_Connection* conn, void** socket_context,
                            MHD_ConnectionNotificationCode code) {
    auto* self = static_cast<impl*>(cls);
    std::lock_guard<std::mutex> guard{self->conns_mtx};
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      auto c = std::make_unique<open_connection>();
      const auto* info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
      c->fd = info != nullptr ? info->connect_fd : -1;
      *socket_context = c.get();
      self->conns[conn] = std::move(c);
    } else {
      *socket_context = nullptr;
      self->conns.erase(conn);
    }
  }

  static MHD_Result collect_header(void* cls, MHD_ValueKind, const char* key, const char* value) {
    add_request_header(static_cast<call_state*>(cls)->request, key != nullptr ? key : "",
                       value != nullptr ? value : "");
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
    auto r = exchange_handler::error({status_code::invalid_argument, std::string{"bad request framing: "} + why});
    r.headers.push_back({"Connection", "close"});
    return queue(s, std::move(r));
  }

  static MHD_Result on_request(void* cls, MHD_Connection* conn, const char*, const char* method, const char*,
                               const char* upload_data, size_t* upload_data_size, void** con_cls) {
    auto* self = static_cast<impl*>(cls);
    if (*con_cls == nullptr)
      return MHD_NO;  // every request got its state in on_uri
    auto& holder = *static_cast<std::shared_ptr<call_state>*>(*con_cls);
    auto& s = *holder;
    if (!s.initialized) {
      s.initialized = true;
      s.request.method = method;
      framing f;
      MHD_get_connection_values(conn, MHD_HEADER_KIND, &collect_framing, &f);
      if (const char* why = f.verdict())
        return self->reject_ambiguous_framing(s, why);
      MHD_get_connection_values(conn, MHD_HEADER_KIND, &collect_header, &s);
      return MHD_YES;
    }
    if (*upload_data_size > 0) {
      if (s.body.size() + *upload_data_size > self->handler.options().max_message_size)
        s.too_large = true;
      else
        s.body.append(upload_data, *upload_data_size);
      *upload_data_size = 0;
      return MHD_YES;
    }
    if (!s.ex) {
      // The exchange may answer at once, from this thread: the answer is then queued by wait_or_answer below.
      auto ex = self->handler.start(std::move(s.request), std::move(s.body), s.too_large, holder, false);
      std::lock_guard<std::mutex> guard{s.mtx};
      s.ex = std::move(ex);
    }
    return self->wait_or_answer(s);
  }

  static void on_completed(void* cls, MHD_Connection* conn, void** con_cls, MHD_RequestTerminationCode) {
    auto* self = static_cast<impl*>(cls);
    if (con_cls == nullptr || *con_cls == nullptr)
      return;
    // A request answered before `go_away` kept its connection open: close it now that it is idle. The answer has
    // been handed to the socket, which sends it before the end of the stream.
    if (auto* c = connection_of(conn); c != nullptr && --c->requests == 0 && self->going_away.load())
      close_idle(*c);
    auto* holder = static_cast<std::shared_ptr<call_state>*>(*con_cls);
    auto s = *holder;
    delete holder;
    *con_cls = nullptr;
    std::shared_ptr<exchange> ex;
    {
      std::lock_guard<std::mutex> guard{s->mtx};
      s->completed = true;
      ex = std::move(s->ex);
    }
    if (ex)
      ex->close();
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
      MHD_OPTION_NOTIFY_COMPLETED, &impl::on_completed, &s, MHD_OPTION_NOTIFY_CONNECTION, &impl::on_connection, &s,
      MHD_OPTION_THREAD_POOL_SIZE, std::max(1u, s.handler.options().threads), MHD_OPTION_CONNECTION_TIMEOUT, 120u,
      MHD_OPTION_END);
  if (s.daemon == nullptr)
    return {status_code::unavailable, "cannot start the HTTP server"};
  s.watcher = std::thread{[&s] { s.watch_calls(); }};
  return {};
}

void http_server::add_connection(int fd, const sockaddr* addr, socklen_t addr_len) {
  auto& s = *impl_;
  if (s.daemon == nullptr || MHD_add_connection(s.daemon, fd, addr, addr_len) != MHD_YES) {
    // MHD closes the socket when it refuses it.
    log::warn("HTTP connection refused");
  }
}

void http_server::go_away() {
  auto& s = *impl_;
  s.going_away = true;
  std::lock_guard<std::mutex> guard{s.conns_mtx};
  for (const auto& [conn, c] : s.conns)
    if (c->requests.load() == 0)
      impl::close_idle(*c);
}

size_t http_server::open_connections() const {
  std::lock_guard<std::mutex> guard{impl_->conns_mtx};
  return impl_->conns.size();
}

void http_server::stop() {
  auto& s = *impl_;
  if (s.daemon == nullptr)
    return;
  if (s.watcher.joinable()) {
    {
      std::lock_guard<std::mutex> guard{s.watch_mtx};
      s.watch_stop = true;
    }
    s.watch_cv.notify_all();
    s.watcher.join();
  }
  // Every suspended call is woken with an answer first: MHD must not be stopped with suspended connections.
  std::vector<std::shared_ptr<call_state>> live;
  {
    std::lock_guard<std::mutex> guard{s.live_mtx};
    live.assign(s.live.begin(), s.live.end());
  }
  for (auto& c : live) {
    std::shared_ptr<exchange> ex;
    {
      std::lock_guard<std::mutex> guard{c->mtx};
      ex = c->ex;
      if (!c->ready && !c->queued)
        c->ready = exchange_handler::error({status_code::unavailable, "the node is shutting down"});
      c->stream_ended = true;
      c->wake();
    }
    if (ex)
      ex->close();
  }
  MHD_stop_daemon(s.daemon);
  s.daemon = nullptr;
}

}  // namespace actorstate::http
