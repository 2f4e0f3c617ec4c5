// The shopping cart's HTTP/JSON session (the one Cloudstate's TCK ran up to v0.5.1) and its bad-input checks, for
// every test that serves the cart: natively, through the proxy, or from a polyglot user function. They CHECK (doctest)
// rather than return.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "node_process.hpp"

namespace actorstate::it {

inline const std::vector<std::string> json_content = {"Content-Type: application/json"};

/// POST `body` to 127.0.0.1:`port`.
http_response post(uint16_t port, const std::string& path, const std::string& body,
                   const std::vector<std::string>& headers = json_content);

/// Adds, reads (whole cart and items only), removes and fails over HTTP/JSON on `user`'s cart, which must be empty;
/// leaves it holding "B14623482 Basic 1".
void cart_session(uint16_t port, const std::string& user);

/// Malformed JSON, a wrong content type, unknown routes: the right errors, and the cart unchanged.
void cart_bad_input(uint16_t port, const std::string& user);

}  // namespace actorstate::it
