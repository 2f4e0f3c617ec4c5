// Two transports in one process, each on its own actor system, talking over loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <caf/io/middleman.hpp>

#include "members.hpp"
#include "node_process.hpp"

namespace actorstate::cluster::test {
namespace {

/// Inbound calls that are held, unanswered, until the test lets them go.
struct held_calls {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<std::pair<cluster_call, std::function<void(command_result)>>> calls;

  transport_options handler() {
    transport_options o;
    o.inbound = [this](cluster_call c, std::function<void(command_result)> reply) {
      if (c.cmd.method == "Warm") {  // answered at once: sets up the connection before a test's timing starts
        reply(command_result::success("warm"));
        return;
      }
      std::lock_guard<std::mutex> guard{mtx};
      calls.emplace_back(std::move(c), std::move(reply));
      cv.notify_all();
    };
    return o;
  }
  bool wait(size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, timeout, [&] { return calls.size() >= n; });
  }
  /// Drops the reply functions (before the actor system that made them goes).
  void clear() {
    std::lock_guard<std::mutex> guard{mtx};
    calls.clear();
  }
};

/// A TCP listener that accepts (the kernel does) but never says a word: a peer that hangs after connecting.
class silent_listener {
public:
  silent_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof sa;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
    port_ = ntohs(sa.sin_port);
  }
  ~silent_listener() { ::close(fd_); }
  uint16_t port() const { return port_; }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

/// A port nobody listens on (bound and closed again).
uint16_t closed_port() {
  return it::pick_free_port();
}

transport_options caller() {
  transport_options o;
  o.inbound = [](cluster_call, std::function<void(command_result)> reply) {
    reply(command_result::failure(status_code::unimplemented, "the caller serves nothing"));
  };
  o.connect_timeout = 1500ms;
  return o;
}

}  // namespace

TEST_CASE("transport.a_call_reaches_the_peer_and_its_reply_comes_back") {
  std::mutex mtx;
  cluster_call seen;
  auto b_opts = echo_member();
  auto echo = b_opts.inbound;
  b_opts.inbound = [&](cluster_call c, std::function<void(command_result)> reply) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      seen = c;
    }
    echo(std::move(c), std::move(reply));
  };
  member b{b_opts};
  member a{caller()};
  CHECK(b.net().port() != 0);
  auto got = std::make_shared<outcomes>();
  a.net().call(b.address(), make_call("hello"), clock::now() + 5s, got->done());
  REQUIRE(got->wait(1));
  auto r = got->at(0);
  REQUIRE_MESSAGE(r.ok(), r.status.to_string());
  CHECK(r.payload == "echo:hello");
  REQUIRE(r.metadata.size() == 1);
  CHECK(r.metadata[0].value == "1");  // one hop
  std::lock_guard<std::mutex> guard{mtx};
  CHECK(seen.service == "test.Echo");
  CHECK(seen.cmd.entity_id == "e1");
  CHECK(seen.cmd.method == "Echo");
  REQUIRE(seen.cmd.metadata.size() == 1);
  CHECK(seen.cmd.metadata[0].key == "x-test");
  CHECK(seen.hops == 1);
  CHECK(seen.time_left > 0ms);
  CHECK(seen.time_left <= 5s);
}

TEST_CASE("transport.a_failed_inbound_call_carries_its_status_back") {
  transport_options b_opts;
  b_opts.inbound = [](cluster_call, std::function<void(command_result)> reply) {
    reply(command_result::failure(status_code::not_found, "no such cart"));
  };
  member b{b_opts};
  member a{caller()};
  auto got = std::make_shared<outcomes>();
  a.net().call(b.address(), make_call("x"), clock::now() + 5s, got->done());
  REQUIRE(got->wait(1));
  CHECK(got->at(0).status == status{status_code::not_found, "no such cart"});
}

TEST_CASE("transport.a_call_to_a_closed_port_fails_unavailable_at_once") {
  member a{caller()};
  auto got = std::make_shared<outcomes>();
  auto t0 = clock::now();
  a.net().call("127.0.0.1:" + std::to_string(closed_port()), make_call("x"), clock::now() + 10s, got->done());
  REQUIRE(got->wait(1, 5s));
  CHECK(got->at(0).status.code() == status_code::unavailable);
  CHECK(got->at(0).status.message().find("cannot reach cluster peer") != std::string::npos);
  CHECK(got->time_of(0) - t0 < 1500ms);
}

TEST_CASE("transport.a_call_to_a_peer_that_never_answers_the_handshake_fails_within_the_connect_timeout") {
  silent_listener hung;
  member a{caller()};  // connect timeout 1.5 s
  auto got = std::make_shared<outcomes>();
  auto t0 = clock::now();
  a.net().call("127.0.0.1:" + std::to_string(hung.port()), make_call("x"), clock::now() + 10s, got->done());
  REQUIRE(got->wait(1, 5s));
  CHECK(got->at(0).status.code() == status_code::unavailable);
  auto took = got->time_of(0) - t0;
  MESSAGE("failed after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                          << " ms: " << got->at(0).status.to_string());
  CHECK(took < 1500ms + 500ms);
}

TEST_CASE("transport.a_bad_address_fails_invalid_argument") {
  member a{caller()};
  auto got = std::make_shared<outcomes>();
  for (auto bad : {"no-port", "host:", ":9300", "host:0", "host:70000", "::1:9300", "host:12x"})
    a.net().call(bad, make_call("x"), clock::now() + 5s, got->done());
  REQUIRE(got->wait(7));
  for (auto& r : got->all())
    CHECK(r.status.code() == status_code::invalid_argument);
}

TEST_CASE("transport.a_call_whose_peer_goes_away_fails_unavailable_and_the_loss_is_reported") {
  held_calls held;
  auto b = std::make_unique<member>(held.handler());
  auto b_address = b->address();
  std::mutex mtx;
  std::vector<std::pair<std::string, status>> lost;
  auto a_opts = caller();
  a_opts.peer_lost = [&](const std::string& peer, const status& why) {
    std::lock_guard<std::mutex> guard{mtx};
    lost.emplace_back(peer, why);
  };
  member a{a_opts};
  auto got = std::make_shared<outcomes>();
  for (int i = 0; i < 3; ++i)
    a.net().call(b_address, make_call("held"), clock::now() + 20s, got->done());
  REQUIRE(held.wait(3));
  CHECK(got->count() == 0);
  auto t0 = clock::now();
  b->net().stop();
  held.clear();  // the replies go nowhere: their peer's transport stopped
  b.reset();
  REQUIRE(got->wait(3, 5s));
  for (auto& r : got->all()) {
    CHECK(r.status.code() == status_code::unavailable);
    MESSAGE(r.status.to_string());
  }
  CHECK(got->time_of(2) - t0 < 3s);
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> guard{mtx};
    return !lost.empty();
  }));
  std::lock_guard<std::mutex> guard{mtx};
  REQUIRE(lost.size() == 1);
  CHECK(lost[0].first == b_address);
  CHECK(lost[0].second.code() == status_code::unavailable);
}

TEST_CASE("transport.a_lost_peer_is_dialed_again_on_the_next_call") {
  auto b = std::make_unique<member>(echo_member());
  auto port = b->net().port();
  auto address = b->address();
  std::atomic<int> losses{0};
  auto a_opts = caller();
  a_opts.peer_lost = [&](const std::string&, const status&) { ++losses; };
  member a{a_opts};
  auto first = std::make_shared<outcomes>();
  a.net().call(address, make_call("one"), clock::now() + 5s, first->done());
  REQUIRE(first->wait(1));
  REQUIRE(first->at(0).ok());
  b.reset();
  REQUIRE(eventually([&] { return losses.load() == 1; }));
  // A new member on the same port: the next call dials it.
  auto opts = echo_member();
  opts.port = port;
  b = std::make_unique<member>(opts);
  auto second = std::make_shared<outcomes>();
  a.net().call(address, make_call("two"), clock::now() + 5s, second->done());
  REQUIRE(second->wait(1));
  REQUIRE_MESSAGE(second->at(0).ok(), second->at(0).status.to_string());
  CHECK(second->at(0).payload == "echo:two");
}

TEST_CASE("transport.a_call_past_its_deadline_fails_deadline_exceeded_once") {
  held_calls held;
  member b{held.handler()};
  member a{caller()};
  // Connected first, so the deadline times the call and not the dial (which counts against it too).
  auto warm = std::make_shared<outcomes>();
  auto warm_call = make_call("w");
  warm_call.cmd.method = "Warm";
  a.net().call(b.address(), warm_call, clock::now() + 10s, warm->done());
  REQUIRE(warm->wait(1));
  REQUIRE(warm->at(0).ok());
  auto got = std::make_shared<outcomes>();
  auto t0 = clock::now();
  a.net().call(b.address(), make_call("slow"), t0 + 300ms, got->done());
  REQUIRE(got->wait(1, 5s));
  CHECK(got->at(0).status.code() == status_code::deadline_exceeded);
  auto took = got->time_of(0) - t0;
  CHECK(took >= 300ms);
  CHECK(took < 300ms + 1s);
  // The answer that comes late is dropped: the call ended once.
  REQUIRE(held.wait(1));
  {
    std::lock_guard<std::mutex> guard{held.mtx};
    held.calls[0].second(command_result::success("late"));
  }
  std::this_thread::sleep_for(200ms);
  CHECK(got->count() == 1);
  // A deadline already past fails at once, without a message.
  a.net().call(b.address(), make_call("past"), clock::now() - 1ms, got->done());
  REQUIRE(got->wait(2, 1s));
  CHECK(got->at(1).status.code() == status_code::deadline_exceeded);
  held.clear();
}

TEST_CASE("transport.a_call_whose_deadline_passes_while_dialing_fails_deadline_exceeded") {
  silent_listener hung;  // no dial can end before 100 ms (two heartbeat ticks), the deadline is at 50 ms
  member a{caller()};
  auto got = std::make_shared<outcomes>();
  auto t0 = clock::now();
  a.net().call("127.0.0.1:" + std::to_string(hung.port()), make_call("x"), t0 + 50ms, got->done());
  REQUIRE(got->wait(1, 5s));
  CHECK(got->at(0).status.code() == status_code::deadline_exceeded);
  CHECK(got->time_of(0) - t0 < 50ms + 1s);
}

TEST_CASE("transport.a_call_forwarded_max_hops_times_is_not_forwarded_again") {
  std::atomic<int> arrived{0};
  std::atomic<uint32_t> hops_seen{0};
  transport_options b_opts;
  b_opts.inbound = [&](cluster_call c, std::function<void(command_result)> reply) {
    ++arrived;
    hops_seen = c.hops;
    reply(command_result::success("ok"));
  };
  member b{b_opts};
  auto a_opts = caller();
  a_opts.max_hops = 2;
  member a{a_opts};
  auto got = std::make_shared<outcomes>();
  auto last_allowed = make_call("x");
  last_allowed.hops = 1;
  a.net().call(b.address(), last_allowed, clock::now() + 5s, got->done());
  REQUIRE(got->wait(1));
  CHECK(got->at(0).ok());
  CHECK(hops_seen.load() == 2);
  auto too_many = make_call("x");
  too_many.hops = 2;
  a.net().call(b.address(), too_many, clock::now() + 5s, got->done());
  REQUIRE(got->wait(2));
  CHECK(got->at(1).status.code() == status_code::unavailable);
  CHECK(got->at(1).status.message().find("hop limit") != std::string::npos);
  CHECK(arrived.load() == 1);
}

TEST_CASE("transport.an_inbound_call_whose_reply_is_dropped_fails_unavailable") {
  transport_options b_opts;
  b_opts.inbound = [](cluster_call, std::function<void(command_result)>) {};  // drops the reply function
  member b{b_opts};
  member a{caller()};
  auto got = std::make_shared<outcomes>();
  a.net().call(b.address(), make_call("x"), clock::now() + 5s, got->done());
  REQUIRE(got->wait(1));
  CHECK(got->at(0).status.code() == status_code::unavailable);
}

TEST_CASE("transport.many_concurrent_calls_each_get_their_own_reply") {
  for (bool batching : {false, true}) {
    CAPTURE(batching);
    auto b_opts = echo_member();
    b_opts.batching = batching;
    member b{b_opts};
    auto a_opts = caller();
    a_opts.batching = batching;
    member a{a_opts};
    constexpr int threads = 4;
    constexpr int per_thread = 500;
    std::vector<std::shared_ptr<outcomes>> got;
    for (int t = 0; t < threads; ++t)
      got.push_back(std::make_shared<outcomes>());
    std::vector<std::thread> callers;
    for (int t = 0; t < threads; ++t)
      callers.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i)
          a.net().call(b.address(), make_call(std::to_string(t) + "/" + std::to_string(i)), clock::now() + 20s,
                       got[t]->done());
      });
    for (auto& c : callers)
      c.join();
    for (int t = 0; t < threads; ++t) {
      REQUIRE(got[t]->wait(per_thread, 20s));
      std::set<std::string> payloads;
      for (auto& r : got[t]->all()) {
        REQUIRE_MESSAGE(r.ok(), r.status.to_string());
        payloads.insert(r.payload);
      }
      CHECK(payloads.size() == per_thread);
      CHECK(payloads.count("echo:" + std::to_string(t) + "/0") == 1);
    }
  }
}

TEST_CASE("transport.stopping_fails_the_calls_still_open") {
  held_calls held;
  member b{held.handler()};
  member a{caller()};
  auto got = std::make_shared<outcomes>();
  a.net().call(b.address(), make_call("x"), clock::now() + 20s, got->done());
  REQUIRE(held.wait(1));
  a.net().stop();
  REQUIRE(got->wait(1, 1s));
  CHECK(got->at(0).status.code() == status_code::unavailable);
  a.net().call(b.address(), make_call("y"), clock::now() + 20s, got->done());
  REQUIRE(got->wait(2, 1s));
  CHECK(got->at(1).status.code() == status_code::unavailable);
  held.clear();
}

TEST_CASE("transport.start_refuses_an_unprepared_actor_system_and_a_taken_port") {
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  auto refused = transport::start(sys, echo_member());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code() == status_code::failed_precondition);

  member b{echo_member()};
  auto opts = echo_member();
  opts.port = b.net().port();
  caf::actor_system_config cfg2;
  REQUIRE(configure_remoting(cfg2, fast_remoting()).ok());
  caf::actor_system sys2{cfg2};
  opts.bind = "127.0.0.1";
  auto taken = transport::start(sys2, opts);
  REQUIRE_FALSE(taken.ok());
  CHECK(taken.error().code() == status_code::unavailable);
}

TEST_CASE("transport.configure_remoting_refuses_heartbeats_that_cannot_detect_anything") {
  caf::actor_system_config cfg;
  remoting_options off;
  off.heartbeat_interval = 0ms;
  CHECK(configure_remoting(cfg, off).code() == status_code::invalid_argument);
  remoting_options inverted;
  inverted.heartbeat_interval = 1s;
  inverted.connection_timeout = 1s;
  CHECK(configure_remoting(cfg, inverted).code() == status_code::invalid_argument);
}

}  // namespace actorstate::cluster::test
