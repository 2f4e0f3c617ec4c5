// The TCK's `client.http` for the "verify HTTP API" scenarios: a POST of a JSON body to the proxy's client port
// (HTTP/1.1, the same port as gRPC), as `request` (200 with the canonical JSON reply) and `requestToError` (our
// contract: 500 with the failure's description as text/plain). Header-only; call from a test.
#pragma once

#include <string>

#include "fixture.hpp"
#include "node_process.hpp"

namespace tck_proxy {

// POST `body` with Content-Type application/json to http://<proxy>/<path> (`path` without the leading slash, as
// the TCK writes it).
inline actorstate::it::http_response http_post(const std::string& path, const std::string& body) {
  return actorstate::it::http_request(fixture::get().proxy_port(), "POST", "/" + path,
                                      {"Content-Type: application/json"}, body, call_timeout);
}

// client.http.request(path, body) mustBe expected: 200, a JSON reply, exactly `expected`.
inline void check_http_request(const std::string& path, const std::string& body, const std::string& expected) {
  INFO("POST /" << path << " " << body);
  auto r = http_post(path, body);
  CHECK_MESSAGE(r.status == 200, "status " << r.status << " body " << r.body);
  CHECK_MESSAGE(r.header("content-type").starts_with("application/json"), "content-type " << r.header("content-type"));
  CHECK(r.body == expected);
}

// client.http.requestToError(path, body) mustBe description: a user failure is 500 with the description as text.
inline void check_http_error(const std::string& path, const std::string& body, const std::string& description) {
  INFO("POST /" << path << " " << body);
  auto r = http_post(path, body);
  CHECK_MESSAGE(r.status == 500, "status " << r.status << " body " << r.body);
  CHECK_MESSAGE(r.header("content-type").starts_with("text/plain"), "content-type " << r.header("content-type"));
  CHECK(r.body == description);
}

}  // namespace tck_proxy
