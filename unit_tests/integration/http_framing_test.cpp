// HTTP/1.1 request framing on the client port (RFC 9112 §6.3): a request whose body length is ambiguous is answered
// 400 and its connection closed, so bytes a proxy in front would read as part of the body never run as a second
// request here (request smuggling). Each malformed request carries a pipelined second request that would add to a
// counter; the counter must stay untouched. Well-framed requests (Content-Length, chunked, pipelined) still work.
#include <doctest/doctest.h>

#include "cart_client.hpp"
#include "http_cart.hpp"
#include "node_process.hpp"

namespace it = actorstate::it;
using namespace std::chrono_literals;

namespace {

/// The request that must not run: adds 7 to counter `key`.
std::string smuggled_add(const std::string& key) {
  return "POST /counter/" + key +
         "/add HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1\r\n\r\n7";
}

/// Reads counter `key` over a fresh connection.
std::string counter_value(uint16_t port, const std::string& key) {
  return it::post(port, "/counter/" + key + "/get", "").body;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1))
    ++n;
  return n;
}

struct exchange {
  std::string response;
  bool closed = false;
};

exchange send_raw(uint16_t port, const std::string& bytes) {
  it::raw_connection conn{port, 3s};
  exchange out;
  REQUIRE(conn.send(bytes));
  out.response = conn.receive_all(out.closed);
  return out;
}

}  // namespace

TEST_CASE("http.ambiguous_framing_is_refused_and_closes_the_connection") {
  it::temp_dir dir;
  it::node_process node{it::counter_binary(), dir.path()};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  const std::string first = "POST /counter/probe/get HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";

  struct attack {
    std::string name;
    std::string bytes;
  };
  auto make = [&](const char* name, const std::string& headers, const std::string& body_prefix = {}) {
    return attack{name, first + headers + "\r\n" + body_prefix + smuggled_add(name)};
  };
  auto smuggled_size = [&](const char* name) { return std::to_string(smuggled_add(name).size()); };
  std::vector<attack> attacks = {
      // libmicrohttpd frames by the first one; a proxy might use the last.
      make("cl_twice", "Content-Length: 0\r\nContent-Length: " + smuggled_size("cl_twice") + "\r\n"),
      make("cl_list", "Content-Length: 0, " + smuggled_size("cl_list") + "\r\n"),
      make("cl_sign", "Content-Length: +0\r\n"),
      // libmicrohttpd reads chunked and keeps the connection: what follows the last chunk runs next.
      make("cl_and_te", "Content-Length: " + smuggled_size("cl_and_te") + "\r\nTransfer-Encoding: chunked\r\n",
           "0\r\n\r\n"),
      // A header named "Transfer-Encoding " frames nothing here, so the "body" runs as the next request.
      make("te_space", "Transfer-Encoding : chunked\r\n"),
      make("te_tab", "Transfer-Encoding\t: chunked\r\n"),
      make("te_not_chunked", "Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"),
      make("te_twice", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", "0\r\n\r\n"),
  };
  for (const auto& a : attacks) {
    CAPTURE(a.name);
    auto x = send_raw(node.port(), a.bytes);
    CAPTURE(x.response);
    CHECK(x.response.rfind("HTTP/1.1 400 ", 0) == 0);
    // No answer to a second request. (libmicrohttpd's own 400 for a Content-Length it cannot parse repeats its
    // status line, hence no count of exactly one.)
    CHECK(count(x.response, "HTTP/1.1 ") == count(x.response, "HTTP/1.1 400 "));
    CHECK(x.closed);
    CHECK(counter_value(node.port(), a.name) == "\"0\"");
  }
  CHECK(node.terminate() == 0);
}

TEST_CASE("http.well_framed_requests_are_served") {
  it::temp_dir dir;
  it::node_process node{it::counter_binary(), dir.path()};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  const std::string json = "Host: 127.0.0.1\r\nContent-Type: application/json\r\n";

  SUBCASE("content_length_pipelined") {
    // Two requests in one write on a kept-alive connection: both run, in order.
    it::raw_connection conn{node.port(), 3s};
    REQUIRE(conn.send("POST /counter/cl/add HTTP/1.1\r\n" + json + "Content-Length: 1\r\n\r\n5" +
                      "POST /counter/cl/add HTTP/1.1\r\n" + json + "Content-Length: 1\r\nConnection: close\r\n\r\n7"));
    bool closed = false;
    auto response = conn.receive_all(closed);
    CAPTURE(response);
    CHECK(count(response, "HTTP/1.1 200 ") == 2);
    CHECK(response.find("\"12\"") != std::string::npos);
    CHECK(counter_value(node.port(), "cl") == "\"12\"");
  }
  SUBCASE("chunked") {
    // "42" in two chunks.
    auto x = send_raw(node.port(), "POST /counter/chunked/add HTTP/1.1\r\n" + json +
                                       "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
                                       "1\r\n4\r\n1\r\n2\r\n0\r\n\r\n");
    CAPTURE(x.response);
    CHECK(x.response.rfind("HTTP/1.1 200 ", 0) == 0);
    CHECK(x.response.find("\"42\"") != std::string::npos);
    CHECK(counter_value(node.port(), "chunked") == "\"42\"");
  }
  SUBCASE("same_content_length_twice") {
    // Repeated identical values are unambiguous (RFC 9110 §8.6 lets a recipient accept them).
    auto x = send_raw(node.port(), "POST /counter/same/add HTTP/1.1\r\n" + json +
                                       "Content-Length: 1\r\nContent-Length: 1\r\nConnection: close\r\n\r\n3");
    CAPTURE(x.response);
    CHECK(x.response.rfind("HTTP/1.1 200 ", 0) == 0);
    CHECK(counter_value(node.port(), "same") == "\"3\"");
  }
  CHECK(node.terminate() == 0);
}
