#include "h2_client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include <nghttp2/nghttp2.h>

namespace actorstate::it {

namespace {

std::string find(const std::vector<std::pair<std::string, std::string>>& fields, const std::string& name) {
  for (const auto& [k, v] : fields)
    if (k == name)
      return v;
  return {};
}

}  // namespace

struct h2_connection::state {
  /// One stream: its request's body and its response.
  struct stream_state {
    std::string body;
    size_t body_sent = 0;
    h2_response response;
    bool ended = false;
  };

  int fd = -1;
  nghttp2_session* session = nullptr;
  std::map<int32_t, std::unique_ptr<stream_state>> streams;
  std::vector<goaway> goaways;
  bool closed = false;
  std::string error;
  int send_errno = 0;
  std::string send_failure;  // why sending stopped ("" while it works)
  h2_response none;          // the response of an unknown stream

  stream_state* stream(int32_t id) {
    auto i = streams.find(id);
    return i == streams.end() ? nullptr : i->second.get();
  }

  /// The connection has ended: `why`, also on every stream it ended under.
  void end(const std::string& why) {
    if (closed)
      return;
    closed = true;
    error = why;
    for (auto& [id, s] : streams)
      if (!s->ended && s->response.error.empty())
        s->response.error = why;
  }

  static ssize_t on_send(nghttp2_session*, const uint8_t* data, size_t length, int, void* user) {
    auto& c = *static_cast<state*>(user);
    auto n = ::send(c.fd, data, length, MSG_NOSIGNAL);
    if (n >= 0)
      return n;
    c.send_errno = errno;
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto* s = static_cast<state*>(user)->stream(frame->hd.stream_id);
    if (s == nullptr)
      return 0;
    std::string n{reinterpret_cast<const char*>(name), namelen};
    std::string v{reinterpret_cast<const char*>(value), valuelen};
    if (n == ":status")
      s->response.status = std::stoi(v);
    else if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE)
      s->response.headers.emplace_back(std::move(n), std::move(v));
    else
      s->response.trailers.emplace_back(std::move(n), std::move(v));
    return 0;
  }
  static int on_data(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len, void* user) {
    if (auto* s = static_cast<state*>(user)->stream(stream_id))
      s->response.body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type == NGHTTP2_GOAWAY)
      static_cast<state*>(user)->goaways.push_back({frame->goaway.last_stream_id, frame->goaway.error_code});
    return 0;
  }
  static int on_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user) {
    auto* s = static_cast<state*>(user)->stream(stream_id);
    if (s == nullptr)
      return 0;
    if (error_code != NGHTTP2_NO_ERROR)
      s->response.error = std::string{"stream reset: "} + nghttp2_http2_strerror(error_code);
    s->ended = true;
    return 0;
  }
  static ssize_t read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                           nghttp2_data_source* source, void*) {
    auto& s = *static_cast<stream_state*>(source->ptr);
    auto n = std::min(length, s.body.size() - s.body_sent);
    std::memcpy(buf, s.body.data() + s.body_sent, n);
    s.body_sent += n;
    if (s.body_sent == s.body.size())
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
};

h2_connection::h2_connection(uint16_t port) : s_(std::make_unique<state>()) {
  auto& c = *s_;
  c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (c.fd < 0 || ::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    c.end("connect failed");
    return;
  }
  int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval send_timeout{5, 0};  // a server that stops reading must not block a send for good
  ::setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_send_callback(cbs, &state::on_send);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &state::on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &state::on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &state::on_frame);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &state::on_close);
  nghttp2_session_client_new(&c.session, cbs, &c);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_submit_settings(c.session, NGHTTP2_FLAG_NONE, nullptr, 0);
}

h2_connection::~h2_connection() {
  if (s_->session != nullptr)
    nghttp2_session_del(s_->session);
  if (s_->fd >= 0)
    ::close(s_->fd);
}

int32_t h2_connection::start(const h2_request& req) {
  auto& c = *s_;
  if (c.closed)
    return -1;
  auto s = std::make_unique<state::stream_state>();
  s->body = req.body;
  std::vector<std::pair<std::string, std::string>> fields = {
      {":method", req.method}, {":scheme", "http"}, {":authority", "127.0.0.1"}, {":path", req.path}};
  fields.insert(fields.end(), req.headers.begin(), req.headers.end());
  std::vector<nghttp2_nv> nva;
  for (auto& [k, v] : fields)
    nva.push_back({reinterpret_cast<uint8_t*>(k.data()), reinterpret_cast<uint8_t*>(v.data()), k.size(), v.size(),
                   NGHTTP2_NV_FLAG_NONE});
  nghttp2_data_provider provider{};
  provider.source.ptr = s.get();
  provider.read_callback = &state::read_body;
  auto id = nghttp2_submit_request(c.session, nullptr, nva.data(), nva.size(), req.body.empty() ? nullptr : &provider,
                                   nullptr);
  if (id < 0)
    return -1;
  c.streams.emplace(id, std::move(s));
  return id;
}

bool h2_connection::wait(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto& c = *s_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done() && !c.closed) {
    // A send that fails (the server closed or reset the connection) does not end the connection: what the server
    // sent before is still read, as a GOAWAY that precedes the close.
    if (c.send_failure.empty() && nghttp2_session_send(c.session) != 0)
      c.send_failure = std::string{"; a send failed: "} + std::strerror(c.send_errno);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      break;
    // In slices: `done` may wait for something other than this connection (a call reaching the server's backend).
    pollfd p{c.fd, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 10)));
    if (ready < 0 && errno != EINTR) {
      c.end("poll failed");
      break;
    }
    if (ready <= 0)
      continue;
    char buf[16 * 1024];
    auto n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      continue;
    if (n <= 0) {
      c.end((n == 0 ? std::string{"connection closed"} : std::string{"connection broke: "} + std::strerror(errno)) +
            c.send_failure);
      break;
    }
    if (nghttp2_session_mem_recv(c.session, reinterpret_cast<const uint8_t*>(buf), static_cast<size_t>(n)) < 0) {
      c.end("protocol error");
      break;
    }
  }
  return done();
}

bool h2_connection::answered(int32_t stream) const {
  auto* s = s_->stream(stream);
  return s != nullptr && s->ended;
}

const h2_response& h2_connection::response(int32_t stream) const {
  auto* s = s_->stream(stream);
  return s != nullptr ? s->response : s_->none;
}

const std::vector<h2_connection::goaway>& h2_connection::goaways() const {
  return s_->goaways;
}

bool h2_connection::closed() const {
  return s_->closed;
}

const std::string& h2_connection::error() const {
  return s_->error;
}

std::string h2_response::header(const std::string& name) const {
  return find(headers, name);
}

std::string h2_response::trailer(const std::string& name) const {
  return find(trailers, name);
}

std::vector<h2_response> h2_exchange(uint16_t port, const std::vector<h2_request>& requests,
                                     std::chrono::milliseconds timeout) {
  std::vector<h2_response> out(requests.size());
  h2_connection c{port};
  for (size_t i = 0; i < requests.size(); ++i) {
    auto id = c.start(requests[i]);
    if (id < 0 || !c.wait_for_response(id, timeout)) {
      out[i] = c.response(id);
      if (out[i].error.empty())
        out[i].error = c.closed() ? c.error() : id < 0 ? "cannot start the request" : "timed out";
      for (size_t j = i + 1; j < out.size(); ++j)
        out[j].error = "not sent: " + out[i].error;
      break;
    }
    out[i] = c.response(id);
  }
  return out;
}

}  // namespace actorstate::it
