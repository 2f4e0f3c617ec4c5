#include "http/h2_server.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "actorstate/ops/log.hpp"
#include "http/exchange.hpp"
#include "http/grpc_web.hpp"

namespace actorstate::http {

namespace {

using clock = std::chrono::steady_clock;

/// How much of a connection's start one peek sees: the preface, the client's SETTINGS and WINDOW_UPDATE and the
/// first request's headers take a few hundred bytes.
constexpr size_t peek_window = 64 * 1024;
/// A connection with no open stream for this long is closed (as libmicrohttpd does on the HTTP/1.1 side).
constexpr auto idle_timeout = std::chrono::seconds{120};
/// How often timeouts are looked at.
constexpr int sweep_ms = 1000;
/// How long a connection that ended cleanly is read from (and what arrives dropped) after this side's last frame,
/// before its socket is closed.
constexpr auto linger_timeout = std::chrono::seconds{1};

/// Closures for the server's thread. Exchanges' sinks hold it, so an answer arriving after the server stopped is
/// dropped here instead of running on a thread that is gone.
struct mailbox {
  std::mutex mtx;
  std::vector<std::function<void()>> queue;
  int event_fd = -1;
  bool closed = false;

  /// false (and `fn` dropped) once the server stopped.
  bool post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (closed)
        return false;
      queue.push_back(std::move(fn));
    }
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(event_fd, &one, sizeof one);
    return true;
  }

  std::vector<std::function<void()>> take() {
    uint64_t count;
    [[maybe_unused]] auto n = ::read(event_fd, &count, sizeof count);
    std::lock_guard<std::mutex> guard{mtx};
    return std::exchange(queue, {});
  }

  void close() {
    std::lock_guard<std::mutex> guard{mtx};
    closed = true;
    queue.clear();
  }
};

/// Header fields that are about one HTTP/1.1 connection and are malformed in HTTP/2 (RFC 9113 §8.2.2).
bool connection_specific(const std::string& name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" || name == "transfer-encoding" ||
         name == "upgrade";
}

/// Header fields as nghttp2 takes them; the strings must outlive the submit call (which copies them).
struct field_block {
  std::vector<std::pair<std::string, std::string>> fields;
  std::vector<nghttp2_nv> nva;

  void add(std::string name, std::string value) { fields.emplace_back(std::move(name), std::move(value)); }

  const nghttp2_nv* build() {
    nva.clear();
    for (auto& [n, v] : fields)
      nva.push_back({reinterpret_cast<uint8_t*>(n.data()), reinterpret_cast<uint8_t*>(v.data()), n.size(), v.size(),
                     NGHTTP2_NV_FLAG_NONE});
    return nva.data();
  }
  size_t size() const { return fields.size(); }
};

}  // namespace

/// One request stream and its answer. Lives on the server's thread.
struct h2_stream {
  request_head head;
  std::string body;
  bool too_large = false;
  std::shared_ptr<exchange> ex;
  // The answer's body: bytes not yet handed to nghttp2, whether more will come, and the trailers to end with.
  std::string out;
  bool out_ended = false;
  header_list trailers;
  bool deferred = false;  // nghttp2 waits for `out` to grow (NGHTTP2_ERR_DEFERRED)
};

struct h2_connection {
  enum class verdict { undecided, grpc, web };

  uint64_t id = 0;
  int fd = -1;
  nghttp2_session* session = nullptr;
  h2_server::impl* server = nullptr;
  bool probing = true;  // the first request has not decided yet; bytes are only peeked at
  size_t fed = 0;       // bytes of the peek window nghttp2 has parsed
  verdict decision = verdict::undecided;
  clock::time_point probe_deadline;
  clock::time_point last_active;
  std::unordered_map<int32_t, std::unique_ptr<h2_stream>> streams;
  /// Ended (GOAWAY sent, no stream left): written out and shut down for writing, read until the client closes or
  /// `linger_until`.
  bool lingering = false;
  clock::time_point linger_until;

  h2_stream* stream(int32_t id) {
    auto i = streams.find(id);
    return i == streams.end() ? nullptr : i->second.get();
  }
};

struct h2_server::impl {
  exchange_handler handler;
  grpc_handoff to_grpc;
  std::chrono::milliseconds probe_timeout;
  std::shared_ptr<mailbox> box = std::make_shared<mailbox>();
  int epoll_fd = -1;
  std::thread thread;
  nghttp2_session_callbacks* callbacks = nullptr;

  std::atomic<size_t> open{0};  // conns.size(), for other threads

  // The server's thread only.
  bool running = true;
  uint64_t next_id = 1;
  std::unordered_map<uint64_t, std::unique_ptr<h2_connection>> conns;
  std::unordered_set<uint64_t> dirty;  // connections with frames to send

  impl(frontend::calls& fe, const transcoder& tc, http_options opts, grpc_handoff g, std::chrono::milliseconds probe)
      : handler(fe, tc, std::move(opts)), to_grpc(std::move(g)), probe_timeout(probe) {}

  ~impl() {
    if (callbacks != nullptr)
      nghttp2_session_callbacks_del(callbacks);
    if (epoll_fd >= 0)
      ::close(epoll_fd);
    if (box->event_fd >= 0)
      ::close(box->event_fd);
  }

  // --- the loop ---

  void run() {
    std::vector<epoll_event> events(64);
    while (running) {
      int n = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), sweep_ms);
      if (n < 0 && errno != EINTR) {
        log::error("HTTP/2 server: epoll_wait failed", {{"error", std::strerror(errno)}});
        break;
      }
      for (int i = 0; i < n; ++i) {
        auto id = events[static_cast<size_t>(i)].data.u64;
        if (id == 0) {
          for (auto& fn : box->take())
            fn();
          continue;
        }
        if (auto c = conns.find(id); c != conns.end())
          on_ready(*c->second);
      }
      flush_dirty();
      sweep();
    }
    box->close();
    while (!conns.empty())
      close(*conns.begin()->second);
  }

  void adopt(int fd) {
    auto c = std::make_unique<h2_connection>();
    c->id = next_id++;
    c->fd = fd;
    c->server = this;
    c->probe_deadline = clock::now() + probe_timeout;
    c->last_active = clock::now();
    if (nghttp2_session_server_new(&c->session, callbacks, c.get()) != 0) {
      ::close(fd);
      return;
    }
    // The empty SETTINGS that gets gRPC clients to send their first request (see the header).
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, nullptr, 0);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = c->id;
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      nghttp2_session_del(c->session);
      ::close(fd);
      return;
    }
    auto& conn = *c;
    conns.emplace(conn.id, std::move(c));
    open = conns.size();
    if (nghttp2_session_send(conn.session) != 0) {
      close(conn);
      return;
    }
    on_ready(conn);
  }

  void on_ready(h2_connection& c) {
    c.last_active = clock::now();
    if (c.lingering) {
      drain_lingering(c);
      return;
    }
    if (c.probing) {
      probe(c);
      return;
    }
    read_all(c);
  }

  /// Peeks at what arrived and lets nghttp2 parse the new part; hands the connection over once its first request's
  /// headers are in.
  void probe(h2_connection& c) {
    std::string buf(peek_window, '\0');
    auto n = ::recv(c.fd, buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      close(c);
      return;
    }
    if (n <= 0 || static_cast<size_t>(n) <= c.fed)
      return;
    auto fresh = static_cast<size_t>(n) - c.fed;
    auto rv = nghttp2_session_mem_recv(c.session, reinterpret_cast<const uint8_t*>(buf.data()) + c.fed, fresh);
    if (rv < 0) {
      // Not HTTP/2 that nghttp2 accepts; gRPC's transport would refuse it as well.
      log::debug("HTTP/2 connection closed", {{"error", nghttp2_strerror(static_cast<int>(rv))}});
      close(c);
      return;
    }
    c.fed = static_cast<size_t>(n);
    if (c.decision == h2_connection::verdict::grpc) {
      hand_to_grpc(c);
      return;
    }
    if (c.decision == h2_connection::verdict::undecided) {
      if (c.fed >= peek_window)
        hand_to_grpc(c);
      return;
    }
    // Ours: consume what nghttp2 has parsed, and serve the connection from here on.
    size_t left = c.fed;
    while (left > 0) {
      auto got = ::recv(c.fd, buf.data(), std::min(left, buf.size()), MSG_DONTWAIT);
      if (got <= 0) {
        close(c);  // the peeked bytes are in the socket's buffer; not finding them means it broke
        return;
      }
      left -= static_cast<size_t>(got);
    }
    c.probing = false;
    nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 256},
                                         {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    nghttp2_submit_settings(c.session, NGHTTP2_FLAG_NONE, settings, std::size(settings));
    dirty.insert(c.id);
    read_all(c);
  }

  void hand_to_grpc(h2_connection& c) {
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
    int fd = c.fd;
    c.fd = -1;
    close(c);
    to_grpc(fd);
  }

  void read_all(h2_connection& c) {
    char buf[16 * 1024];
    for (;;) {
      auto n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        auto rv = nghttp2_session_mem_recv(c.session, reinterpret_cast<const uint8_t*>(buf), static_cast<size_t>(n));
        if (rv < 0) {
          log::debug("HTTP/2 connection closed", {{"error", nghttp2_strerror(static_cast<int>(rv))}});
          close(c);
          return;
        }
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      close(c);  // the client closed, or the connection broke
      return;
    }
    dirty.insert(c.id);
  }

  void flush_dirty() {
    auto ids = std::exchange(dirty, {});
    for (auto id : ids) {
      auto i = conns.find(id);
      if (i == conns.end() || i->second->probing)
        continue;
      auto& c = *i->second;
      if (c.lingering)
        continue;
      if (nghttp2_session_send(c.session) != 0)
        close(c);
      else if (!nghttp2_session_want_read(c.session) && !nghttp2_session_want_write(c.session))
        linger(c);
    }
  }

  /// Ends a connection that has nothing more to say, without a reset: closing a socket with unread bytes in it (the
  /// client's last SETTINGS acknowledgement or WINDOW_UPDATE, say) sends an RST, and a client that gets the RST before
  /// it has read the GOAWAY or the last answer may lose them. So: the end of the stream to the client, then read and
  /// drop whatever it still sends until it closes too, for `linger_timeout` at most (a lingering close).
  void linger(h2_connection& c) {
    c.lingering = true;
    c.linger_until = clock::now() + linger_timeout;
    ::shutdown(c.fd, SHUT_WR);
    drain_lingering(c);
  }

  void drain_lingering(h2_connection& c) {
    char buf[4096];
    for (;;) {
      auto n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0)
        continue;
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
      close(c);  // the client closed its side (or the connection broke)
      return;
    }
  }

  void sweep() {
    auto now = clock::now();
    std::vector<h2_connection*> expired;
    for (auto& [id, c] : conns) {
      if (c->lingering ? now >= c->linger_until
          : c->probing ? now >= c->probe_deadline
                       : c->streams.empty() && now - c->last_active >= idle_timeout)
        expired.push_back(c.get());
    }
    for (auto* c : expired) {
      if (c->lingering) {
        close(*c);
      } else if (c->probing) {
        // No request yet: an idle gRPC channel, most likely. gRPC's transport has its own idle rules.
        hand_to_grpc(*c);
      } else {
        nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
        nghttp2_session_send(c->session);
        close(*c);
      }
    }
  }

  /// Ends the connection: its calls are cancelled, its socket closed (unless handed over).
  void close(h2_connection& c) {
    for (auto& [id, s] : c.streams)
      if (s->ex)
        s->ex->close();
    if (c.session != nullptr)
      nghttp2_session_del(c.session);
    if (c.fd >= 0) {
      ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
    }
    auto id = c.id;
    dirty.erase(id);
    conns.erase(id);  // destroys c
    open = conns.size();
  }

  void go_away() {
    std::vector<h2_connection*> undecided;
    for (auto& [id, c] : conns) {
      if (c->probing) {
        undecided.push_back(c.get());
        continue;
      }
      // The last stream it has seen is the last it serves; flush_dirty closes the connection once none is open
      // (nghttp2 wants neither to read nor to write after a GOAWAY with no stream left).
      nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->session),
                            NGHTTP2_NO_ERROR, nullptr, 0);
      dirty.insert(id);
    }
    for (auto* c : undecided)
      close(*c);
    flush_dirty();
  }

  // --- answers, posted by the exchanges' sinks ---

  /// Runs `fn(connection, stream)` on the server's thread if the stream is still there.
  template <class F>
  static void post(const std::shared_ptr<mailbox>& box, impl* self, uint64_t conn, int32_t stream, F fn) {
    box->post([self, conn, stream, fn = std::move(fn)]() mutable {
      auto i = self->conns.find(conn);
      if (i == self->conns.end())
        return;
      if (auto* s = i->second->stream(stream)) {
        fn(*i->second, *s);
        self->dirty.insert(conn);
      }
    });
  }

  static ssize_t read_body(nghttp2_session* session, int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags,
                           nghttp2_data_source*, void* user_data) {
    auto& c = *static_cast<h2_connection*>(user_data);
    auto* s = c.stream(stream_id);
    if (s == nullptr)
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (s->out.empty() && !s->out_ended) {
      s->deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    auto n = std::min(length, s->out.size());
    std::memcpy(buf, s->out.data(), n);
    s->out.erase(0, n);
    if (s->out.empty() && s->out_ended) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!s->trailers.empty()) {
        field_block t;
        for (auto& [k, v] : s->trailers)
          t.add(ascii_lower(k), v);
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_submit_trailer(session, stream_id, t.build(), t.size());
      }
    }
    return static_cast<ssize_t>(n);
  }

  static void submit(h2_connection& c, int32_t stream_id, response r, bool body_follows) {
    field_block f;
    f.add(":status", std::to_string(r.status));
    if (!r.content_type.empty())
      f.add("content-type", r.content_type);
    for (auto& [k, v] : r.headers) {
      auto name = ascii_lower(k);
      if (!connection_specific(name))
        f.add(std::move(name), std::move(v));
    }
    auto* s = c.stream(stream_id);
    s->out = std::move(r.body);
    s->out_ended = !body_follows;
    nghttp2_data_provider provider{};
    provider.read_callback = &read_body;
    bool with_body = body_follows || !s->out.empty();
    nghttp2_submit_response(c.session, stream_id, f.build(), f.size(), with_body ? &provider : nullptr);
  }

  static void more(h2_connection& c, int32_t stream_id, h2_stream& s) {
    if (s.deferred) {
      s.deferred = false;
      nghttp2_session_resume_data(c.session, stream_id);
    }
  }

  // --- nghttp2 callbacks (user_data is the connection) ---

  static ssize_t on_send(nghttp2_session*, const uint8_t* data, size_t length, int, void* user_data) {
    auto& c = *static_cast<h2_connection*>(user_data);
    auto n = ::send(c.fd, data, length, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0)
      return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
      return NGHTTP2_ERR_WOULDBLOCK;  // EPOLLOUT (edge-triggered) brings the connection back
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    auto& c = *static_cast<h2_connection*>(user_data);
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
      c.streams[frame->hd.stream_id] = std::make_unique<h2_stream>();
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t, void* user_data) {
    auto& c = *static_cast<h2_connection*>(user_data);
    auto* s = c.stream(frame->hd.stream_id);
    if (s == nullptr || frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
      return 0;  // trailers of a request carry nothing a call uses
    std::string_view n{reinterpret_cast<const char*>(name), namelen};
    std::string v{reinterpret_cast<const char*>(value), valuelen};
    if (n == ":method")
      s->head.method = std::move(v);
    else if (n == ":path")
      s->head.uri = std::move(v);
    else if (!n.empty() && n.front() != ':')
      add_request_header(s->head, n, std::move(v));
    return 0;
  }

  static int on_data_chunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                           void* user_data) {
    auto& c = *static_cast<h2_connection*>(user_data);
    auto* s = c.stream(stream_id);
    if (s == nullptr)
      return 0;
    if (s->body.size() + len > c.server->handler.options().max_message_size) {
      s->too_large = true;
      s->body.clear();
    } else if (!s->too_large) {
      s->body.append(reinterpret_cast<const char*>(data), len);
    }
    return 0;
  }

  static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    auto& c = *static_cast<h2_connection*>(user_data);
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
        c.decision == h2_connection::verdict::undecided) {
      auto* s = c.stream(frame->hd.stream_id);
      bool grpc = s != nullptr && is_plain_grpc(s->head.content_type);
      c.decision = grpc ? h2_connection::verdict::grpc : h2_connection::verdict::web;
    }
    if (c.decision != h2_connection::verdict::web)
      return 0;  // the gRPC server answers this connection
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0)
      if (auto* s = c.stream(frame->hd.stream_id); s != nullptr && !s->ex)
        c.server->dispatch(c, frame->hd.stream_id, *s);
    return 0;
  }

  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t, void* user_data) {
    auto& c = *static_cast<h2_connection*>(user_data);
    auto i = c.streams.find(stream_id);
    if (i == c.streams.end())
      return 0;
    auto s = std::move(i->second);
    c.streams.erase(i);
    if (s->ex)
      s->ex->close();
    return 0;
  }

  /// The sink of one stream's exchange: every call goes to the server's thread.
  class stream_sink final : public response_sink {
  public:
    stream_sink(std::shared_ptr<mailbox> box, impl* self, uint64_t conn, int32_t stream)
        : box_(std::move(box)), self_(self), conn_(conn), stream_(stream) {}

    void answer(response r) override {
      post(box_, self_, conn_, stream_, [r = std::move(r), id = stream_](h2_connection& c, h2_stream&) mutable {
        submit(c, id, std::move(r), false);
      });
    }
    void head(response r) override {
      post(box_, self_, conn_, stream_, [r = std::move(r), id = stream_](h2_connection& c, h2_stream&) mutable {
        submit(c, id, std::move(r), true);
      });
    }
    void data(std::string bytes) override {
      post(box_, self_, conn_, stream_, [b = std::move(bytes), id = stream_](h2_connection& c, h2_stream& s) {
        s.out += b;
        more(c, id, s);
      });
    }
    void end(header_list trailers) override {
      post(box_, self_, conn_, stream_,
           [t = std::move(trailers), id = stream_](h2_connection& c, h2_stream& s) mutable {
             s.out_ended = true;
             s.trailers = std::move(t);
             more(c, id, s);
           });
    }

  private:
    std::shared_ptr<mailbox> box_;
    impl* self_;
    uint64_t conn_;
    int32_t stream_;
  };

  void dispatch(h2_connection& c, int32_t stream_id, h2_stream& s) {
    auto sink = std::make_shared<stream_sink>(box, this, c.id, stream_id);
    s.ex = handler.start(std::move(s.head), std::move(s.body), s.too_large, std::move(sink), true);
  }
};

h2_server::h2_server(frontend::calls& fe, const transcoder& tc, http_options opts, grpc_handoff to_grpc,
                     std::chrono::milliseconds probe_timeout)
    : impl_(std::make_shared<impl>(fe, tc, std::move(opts), std::move(to_grpc), probe_timeout)) {}

h2_server::~h2_server() {
  stop();
}

status h2_server::start() {
  auto& s = *impl_;
  s.epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  s.box->event_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s.epoll_fd < 0 || s.box->event_fd < 0)
    return {status_code::unavailable, std::string{"cannot start the HTTP/2 server: "} + std::strerror(errno)};
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  ::epoll_ctl(s.epoll_fd, EPOLL_CTL_ADD, s.box->event_fd, &ev);
  nghttp2_session_callbacks_new(&s.callbacks);
  nghttp2_session_callbacks_set_send_callback(s.callbacks, &impl::on_send);
  nghttp2_session_callbacks_set_on_begin_headers_callback(s.callbacks, &impl::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(s.callbacks, &impl::on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(s.callbacks, &impl::on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(s.callbacks, &impl::on_frame);
  nghttp2_session_callbacks_set_on_stream_close_callback(s.callbacks, &impl::on_stream_close);
  s.thread = std::thread{[&s] { s.run(); }};
  return {};
}

void h2_server::add_connection(int fd) {
  auto* s = impl_.get();
  if (!s->thread.joinable() || !s->box->post([s, fd] { s->adopt(fd); }))
    ::close(fd);
}

void h2_server::go_away() {
  auto* s = impl_.get();
  if (s->thread.joinable())
    s->box->post([s] { s->go_away(); });
}

size_t h2_server::open_connections() const {
  return impl_->open.load();
}

void h2_server::stop() {
  auto& s = *impl_;
  if (!s.thread.joinable())
    return;
  s.box->post([&s] { s.running = false; });
  s.thread.join();
}

}  // namespace actorstate::http
