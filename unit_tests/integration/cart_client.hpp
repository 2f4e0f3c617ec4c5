// Client-side helpers for the shopping-cart sample, shared by the integration and crash tests: where the built
// binaries are, one-call wrappers with a deadline on every call (a dead node must fail a call, never hang it), a
// load generator that records exactly the AddItems the node acknowledged, and the durability check that compares
// those acknowledgements with a cart read back after a crash or restart.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "shoppingcart/shoppingcart.grpc.pb.h"

namespace actorstate::it {

namespace cart_api = com::example::shoppingcart;

// Absolute paths baked in by CMake ($<TARGET_FILE:...>).
const char* shopping_cart_binary();
const char* shopping_cart_client_binary();
const char* proxy_binary();
const char* counter_binary();
const char* tck_model_binary();

inline constexpr const char* cart_service = "com.example.shoppingcart.ShoppingCart";
inline constexpr std::chrono::seconds call_deadline{5};

std::unique_ptr<cart_api::ShoppingCart::Stub> make_cart_stub(const std::string& target);

grpc::Status add_item(cart_api::ShoppingCart::Stub& stub, const std::string& user, const std::string& product,
                      const std::string& name, int quantity);
grpc::Status remove_item(cart_api::ShoppingCart::Stub& stub, const std::string& user, const std::string& product);
grpc::Status get_cart(cart_api::ShoppingCart::Stub& stub, const std::string& user, cart_api::Cart& cart);

// "p1 Pen 2; p2 Paper 3" — compact enough for a CHECK message and a comparison.
std::string describe(const cart_api::Cart& cart);

// `threads` clients, client t adds to user `users[t % users.size()]` one AddItem at a time (quantity 1, product
// "<tag>-t<t>-<n>") until stop() or its first failed call; only OK replies are recorded as acknowledged.
class cart_load {
public:
  cart_load(const std::string& target, std::vector<std::string> users, int threads, std::string tag);
  ~cart_load();
  cart_load(const cart_load&) = delete;
  cart_load& operator=(const cart_load&) = delete;

  // Bounded wait for at least `count` acknowledgements in total; false if every client stopped or time ran out.
  bool wait_for_acks(size_t count, std::chrono::milliseconds timeout);
  // Asks the clients to stop after their current call and joins them; their in-flight calls end by reply, by
  // error or by the call deadline.
  void stop();

  size_t acknowledged_count() const;
  size_t failed_count() const { return failed_.load(); }
  // user -> products acknowledged for that user, in acknowledgement order; valid after stop().
  const std::map<std::string, std::vector<std::string>>& acknowledged() const { return acked_; }
  const std::vector<std::string>& users() const { return users_; }
  // The first non-OK status text seen, for the report.
  std::string first_failure() const;
  // user -> (product, status code) of every failed call, whose outcome is unknown; valid after stop().
  const std::map<std::string, std::vector<std::pair<std::string, int>>>& failed() const { return failed_products_; }
  // Failed calls per gRPC status code, e.g. "UNAVAILABLE(14)x4".
  std::string failure_codes() const;

private:
  void run(int index);

  std::shared_ptr<grpc::Channel> channel_;
  std::vector<std::string> users_;
  std::string tag_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> acked_total_{0};
  std::atomic<size_t> failed_{0};
  std::atomic<int> running_{0};
  mutable std::mutex mtx_;
  std::map<std::string, std::vector<std::string>> acked_;
  std::string first_failure_;
  std::map<int, size_t> failure_codes_;
  std::map<std::string, std::vector<std::pair<std::string, int>>> failed_products_;
  std::vector<std::thread> threads_;
};

struct durability_report {
  size_t acknowledged = 0;
  size_t lost = 0;                    // acknowledged but absent
  size_t duplicated = 0;              // product listed twice or with quantity != 1
  size_t unacknowledged = 0;          // present though never acknowledged (allowed: the reply may have been lost)
  bool read_ok = true;                // every GetCart succeeded
  std::vector<std::string> problems;  // first few concrete findings, for the failure message
};

// Reads every user's cart and checks that each acknowledged product appears exactly once with quantity 1 and that
// no product appears twice. Products not in `acked` are allowed (once), except duplicates.
durability_report check_durability(cart_api::ShoppingCart::Stub& stub,
                                   const std::map<std::string, std::vector<std::string>>& acked,
                                   const std::vector<std::string>& users);

// "<code> <message>" for assertions and logs.
std::string status_text(const grpc::Status& status);
// The cart of `user` as text (see describe), or why GetCart failed.
std::string cart_text(cart_api::ShoppingCart::Stub& stub, const std::string& user);
// A unary call with raw request bytes: lets a test send what a generated stub never would.
grpc::Status raw_call(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                      const std::string& bytes);
// The Prometheus sample name of `family` for the cart's entity type.
std::string metric_sample(const char* family);

}  // namespace actorstate::it
