#include "h2_client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <nghttp2/nghttp2.h>

namespace actorstate::it {

namespace {

std::string find(const std::vector<std::pair<std::string, std::string>>& fields, const std::string& name) {
  for (const auto& [k, v] : fields)
    if (k == name)
      return v;
  return {};
}

struct client {
  int fd = -1;
  nghttp2_session* session = nullptr;
  h2_response* current = nullptr;
  const std::string* body = nullptr;
  size_t body_sent = 0;
  bool closed = false;

  static ssize_t on_send(nghttp2_session*, const uint8_t* data, size_t length, int, void* user) {
    auto& c = *static_cast<client*>(user);
    auto n = ::send(c.fd, data, length, MSG_NOSIGNAL);
    return n < 0 ? static_cast<ssize_t>(NGHTTP2_ERR_CALLBACK_FAILURE) : n;
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto& c = *static_cast<client*>(user);
    std::string n{reinterpret_cast<const char*>(name), namelen};
    std::string v{reinterpret_cast<const char*>(value), valuelen};
    if (n == ":status")
      c.current->status = std::stoi(v);
    else if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE)
      c.current->headers.emplace_back(std::move(n), std::move(v));
    else
      c.current->trailers.emplace_back(std::move(n), std::move(v));
    return 0;
  }
  static int on_data(nghttp2_session*, uint8_t, int32_t, const uint8_t* data, size_t len, void* user) {
    static_cast<client*>(user)->current->body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int on_close(nghttp2_session*, int32_t, uint32_t error_code, void* user) {
    auto& c = *static_cast<client*>(user);
    if (error_code != NGHTTP2_NO_ERROR)
      c.current->error = std::string{"stream reset: "} + nghttp2_http2_strerror(error_code);
    c.closed = true;
    return 0;
  }
  static ssize_t read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                           nghttp2_data_source*, void* user) {
    auto& c = *static_cast<client*>(user);
    auto n = std::min(length, c.body->size() - c.body_sent);
    std::memcpy(buf, c.body->data() + c.body_sent, n);
    c.body_sent += n;
    if (c.body_sent == c.body->size())
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
};

}  // namespace

std::string h2_response::header(const std::string& name) const {
  return find(headers, name);
}

std::string h2_response::trailer(const std::string& name) const {
  return find(trailers, name);
}

std::vector<h2_response> h2_exchange(uint16_t port, const std::vector<h2_request>& requests,
                                     std::chrono::milliseconds timeout) {
  std::vector<h2_response> out(requests.size());
  client c;
  c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(c.fd);
    for (auto& r : out)
      r.error = "connect failed";
    return out;
  }
  int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_send_callback(cbs, &client::on_send);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &client::on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &client::on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &client::on_close);
  nghttp2_session_client_new(&c.session, cbs, &c);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_submit_settings(c.session, NGHTTP2_FLAG_NONE, nullptr, 0);
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& req = requests[i];
    c.current = &out[i];
    c.body = &req.body;
    c.body_sent = 0;
    c.closed = false;
    std::vector<std::pair<std::string, std::string>> fields = {
        {":method", req.method}, {":scheme", "http"}, {":authority", "127.0.0.1"}, {":path", req.path}};
    fields.insert(fields.end(), req.headers.begin(), req.headers.end());
    std::vector<nghttp2_nv> nva;
    for (auto& [k, v] : fields)
      nva.push_back({reinterpret_cast<uint8_t*>(k.data()), reinterpret_cast<uint8_t*>(v.data()), k.size(), v.size(),
                     NGHTTP2_NV_FLAG_NONE});
    nghttp2_data_provider provider{};
    provider.read_callback = &client::read_body;
    nghttp2_submit_request(c.session, nullptr, nva.data(), nva.size(), req.body.empty() ? nullptr : &provider, nullptr);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!c.closed) {
      if (nghttp2_session_send(c.session) != 0) {
        out[i].error = "send failed";
        break;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{c.fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        out[i].error = "timed out";
        break;
      }
      char buf[16 * 1024];
      auto n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n <= 0) {
        out[i].error = "connection closed";
        break;
      }
      if (nghttp2_session_mem_recv(c.session, reinterpret_cast<const uint8_t*>(buf), static_cast<size_t>(n)) < 0) {
        out[i].error = "protocol error";
        break;
      }
    }
    if (!c.closed) {
      for (size_t j = i + 1; j < out.size(); ++j)
        out[j].error = "not sent: " + out[i].error;
      break;
    }
  }
  nghttp2_session_del(c.session);
  ::close(c.fd);
  return out;
}

}  // namespace actorstate::it
