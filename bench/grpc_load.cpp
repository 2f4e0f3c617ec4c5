// Closed-loop gRPC load for the proxy path and its baseline, grpc_bench-style: `concurrency` asynchronous callers
// (gRPC's callback API, spread over a few channels), each issuing its next call from the previous one's completion,
// until --seconds or --max-calls. `--call AddItem` drives a shopping cart (one durable event per call; behind
// actorstate-proxy that is client → proxy → user function → journal → reply), `--call GetCart` reads one, and
// `--call echo` drives grpc_echo with a request of AddItem's size. Measures calls/s and p50/p99 latency per scenario.
// `--probe ENTITY` instead times one GetCart of ENTITY after the channel is up and warmed on another cart (the
// recovery time of ENTITY when the serving process was just started).
// `--entity-list FILE` takes the entity ids from FILE (one per line) instead of prefix + number: a cluster benchmark
// picks ids whose shards one member owns. Several comma-separated targets (members of one cluster) each get
// `--channels` channels, interleaved so that consecutive callers talk to consecutive targets. A line "ID INDEX"
// routes that entity: every call to it goes to target INDEX (0-based), as a client that knows each entity's owner
// would send it (every line must then have one).
//   grpc_load --target 127.0.0.1:PORT[,HOST:PORT...] --call AddItem|GetCart|echo [--concurrency 1,32,256]
//             [--entities 1000 | --entity-list FILE] [--entity-prefix bench-] [--seconds 3] [--max-calls N]
//             [--channels 4] [--json]
//   grpc_load --target 127.0.0.1:PORT --probe ENTITY [--json]
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <CLI/CLI.hpp>

#include "bench_common.hpp"
#include "echo/echo.grpc.pb.h"
#include "shoppingcart/shoppingcart.grpc.pb.h"

namespace {

namespace api = com::example::shoppingcart;
using bench::clock_type;

enum class call_kind { add_item, get_cart, echo };

struct result : bench::throughput {
  uint64_t calls = 0;
};

struct stubs {
  std::unique_ptr<api::ShoppingCart::Stub> cart;
  std::unique_ptr<actorstate::bench::Echo::Stub> echo;
};

/// One closed-loop caller: issues its next call from the previous one's completion until the deadline or the budget.
struct caller {
  stubs* stub = nullptr;
  call_kind kind = call_kind::add_item;
  size_t index = 0;
  size_t entities = 1;
  std::string prefix;
  const std::vector<std::string>* ids = nullptr;  // --entity-list, if given: ids[k] instead of prefix + k
  // Routed entity lists: entity k goes to target (*routes)[k], over this caller's channel among that target's.
  const std::vector<size_t>* routes = nullptr;
  std::vector<stubs>* all = nullptr;
  size_t targets = 1;
  uint64_t n = 0;
  clock_type::time_point deadline;
  std::atomic<int64_t>* budget = nullptr;
  std::vector<double> latencies;
  uint64_t errors = 0;
  std::string last_error;
  std::function<void()> done;

  // Per call.
  std::unique_ptr<grpc::ClientContext> ctx;
  api::AddLineItem add;
  api::GetShoppingCart get;
  google::protobuf::Empty empty;
  api::Cart cart;
  actorstate::bench::EchoMessage echo_request, echo_reply;
  clock_type::time_point start;

  void fill_add_item(const std::string& user) {
    add.set_user_id(user);
    add.set_product_id("p");
    add.set_name("bench");
    add.set_quantity(1);
  }

  void next() {
    if (clock_type::now() >= deadline || budget->fetch_sub(1) <= 0) {
      done();
      return;
    }
    ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds{10});
    auto k = (index * 7919 + n++) % entities;
    auto user = ids ? (*ids)[k] : prefix + std::to_string(k);
    if (routes != nullptr) {
      // Channel i goes to target i % targets (see main), so target t's channels are t, t + targets, ...
      auto channels = all->size() / targets;
      stub = &(*all)[(index % channels) * targets + (*routes)[k]];
    }
    start = clock_type::now();
    auto on_reply = [this](grpc::Status status) {
      if (status.ok()) {
        latencies.push_back(bench::micros_since(start));
      } else {
        ++errors;
        last_error = status.error_message();
      }
      next();
    };
    switch (kind) {
      case call_kind::add_item:
        fill_add_item(user);
        stub->cart->async()->AddItem(ctx.get(), &add, &empty, on_reply);
        break;
      case call_kind::get_cart:
        get.set_user_id(user);
        stub->cart->async()->GetCart(ctx.get(), &get, &cart, on_reply);
        break;
      case call_kind::echo:
        // The bytes an AddItem request of this caller would carry.
        fill_add_item(user);
        echo_request.set_payload(add.SerializeAsString());
        stub->echo->async()->Echo(ctx.get(), &echo_request, &echo_reply, on_reply);
        break;
    }
  }
};

result run(std::vector<stubs>& all, size_t targets, call_kind kind, size_t concurrency, size_t entities,
           const std::string& prefix, const std::vector<std::string>* ids, const std::vector<size_t>* routes,
           std::chrono::seconds duration, uint64_t max_calls) {
  std::mutex mtx;
  std::condition_variable cv;
  size_t finished = 0;
  std::atomic<int64_t> budget{static_cast<int64_t>(max_calls)};
  std::vector<std::unique_ptr<caller>> callers;
  auto begin = clock_type::now();
  for (size_t i = 0; i < concurrency; ++i) {
    auto c = std::make_unique<caller>();
    c->stub = &all[i % all.size()];
    c->kind = kind;
    c->index = i;
    c->entities = entities;
    c->prefix = prefix;
    c->ids = ids;
    c->routes = routes;
    c->all = &all;
    c->targets = targets;
    c->deadline = begin + duration;
    c->budget = &budget;
    c->done = [&] {
      std::lock_guard<std::mutex> guard{mtx};
      ++finished;
      cv.notify_all();
    };
    callers.push_back(std::move(c));
  }
  for (auto& c : callers)
    c->next();
  {
    std::unique_lock<std::mutex> lock{mtx};
    cv.wait(lock, [&] { return finished == concurrency; });
  }
  result r;
  r.seconds = bench::seconds_since(begin);
  std::vector<double> lat;
  std::string last_error;
  for (auto& c : callers) {
    lat.insert(lat.end(), c->latencies.begin(), c->latencies.end());
    r.errors += c->errors;
    if (!c->last_error.empty())
      last_error = c->last_error;
  }
  if (!last_error.empty())
    std::fprintf(stderr, "grpc_load: %llu failed calls, e.g.: %s\n", static_cast<unsigned long long>(r.errors),
                 last_error.c_str());
  r.calls = lat.size();
  r.rate = static_cast<double>(r.calls) / r.seconds;
  r.p50_us = bench::percentile(lat, 0.50);
  r.p99_us = bench::percentile(lat, 0.99);
  return r;
}

/// One blocking GetCart; its duration in ms, or a negative value on failure.
double timed_get(api::ShoppingCart::Stub& stub, const std::string& entity, int timeout_s) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds{timeout_s});
  api::GetShoppingCart get;
  get.set_user_id(entity);
  api::Cart cart;
  auto start = clock_type::now();
  auto status = stub.GetCart(&ctx, get, &cart);
  auto ms = bench::micros_since(start) / 1000.0;
  if (!status.ok()) {
    std::fprintf(stderr, "grpc_load: GetCart %s: %s\n", entity.c_str(), status.error_message().c_str());
    return -1;
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"closed-loop gRPC load: the shopping cart (through a node or actorstate-proxy) or grpc_echo"};
  std::string target = "127.0.0.1:9000";
  std::string call = "AddItem";
  std::vector<size_t> concurrency{1, 32, 256};
  size_t entities = 1000;
  std::string prefix = "bench-";
  int seconds = 3;
  uint64_t max_calls = 5'000'000;
  size_t channels = 4;
  std::string entity_list;
  std::string probe;
  int connect_timeout = 30;
  bool json = false;
  app.add_option("--target", target, "HOST:PORT, or several comma-separated (each gets --channels channels)")
      ->capture_default_str();
  app.add_option("--call", call)->capture_default_str()->check(CLI::IsMember({"AddItem", "GetCart", "echo"}));
  app.add_option("--concurrency", concurrency)->delimiter(',')->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--entities", entities)->capture_default_str()->check(CLI::Range(1, 100000000));
  app.add_option("--entity-prefix", prefix)->capture_default_str();
  app.add_option("--entity-list", entity_list,
                 "A file of entity ids, one per line (\"ID INDEX\": sent to target INDEX), used instead of --entities")
      ->check(CLI::ExistingFile);
  app.add_option("--seconds", seconds)->capture_default_str()->check(CLI::Range(1, 600));
  app.add_option("--max-calls", max_calls, "Upper bound of calls per scenario")->capture_default_str();
  app.add_option("--channels", channels)->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--probe", probe, "Time one GetCart of this cart after warming up the channel, then exit");
  app.add_option("--connect-timeout", connect_timeout, "Seconds to wait for the target to accept connections")
      ->capture_default_str();
  app.add_flag("--json", json, "One JSON record per scenario instead of a table");
  CLI11_PARSE(app, argc, argv);

  std::vector<std::string> targets;
  for (size_t from = 0;;) {
    auto comma = target.find(',', from);
    targets.push_back(target.substr(from, comma - from));
    if (comma == std::string::npos)
      break;
    from = comma + 1;
  }

  std::vector<std::string> ids;
  std::vector<size_t> routes;
  if (!entity_list.empty()) {
    std::ifstream in{entity_list};
    size_t number = 0;
    for (std::string line; std::getline(in, line);) {
      ++number;
      if (line.empty())
        continue;
      auto space = line.find(' ');
      ids.push_back(line.substr(0, space));
      if (space == std::string::npos)
        continue;
      auto index = std::strtoull(line.c_str() + space + 1, nullptr, 10);
      if (index >= targets.size() || routes.size() + 1 != ids.size()) {
        std::fprintf(stderr, "grpc_load: %s line %zu: \"ID INDEX\" with INDEX below %zu, on every line or none\n",
                     entity_list.c_str(), number, targets.size());
        return 2;
      }
      routes.push_back(index);
    }
    if (ids.empty() || (!routes.empty() && routes.size() != ids.size())) {
      std::fprintf(stderr, "grpc_load: %s: %s\n", entity_list.c_str(),
                   ids.empty() ? "no entity ids" : "a target index on some lines but not all");
      return 2;
    }
    entities = ids.size();
  }
  std::vector<stubs> all;
  // Channel i goes to target i % targets: caller j uses channel j % channels, so callers spread evenly over targets.
  for (size_t i = 0; i < channels * targets.size(); ++i) {
    const auto& to = targets[i % targets.size()];
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", static_cast<int>(i));  // distinct channels, distinct connections
    auto channel = grpc::CreateCustomChannel(to, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds{connect_timeout})) {
      std::fprintf(stderr, "grpc_load: cannot connect to %s\n", to.c_str());
      return 2;
    }
    all.push_back({api::ShoppingCart::NewStub(channel), actorstate::bench::Echo::NewStub(channel)});
  }

  if (!probe.empty()) {
    // Warm the connection and the serving path on carts that need no recovery, then time the probed cart twice:
    // the first call recovers it, the second shows what the same call costs once it is in memory.
    for (int i = 0; i < 3; ++i)
      if (timed_get(*all[0].cart, "probe-warmup-" + std::to_string(i), 30) < 0)
        return 1;
    auto first = timed_get(*all[0].cart, probe, 120);
    auto second = timed_get(*all[0].cart, probe, 30);
    if (first < 0 || second < 0)
      return 1;
    if (json)
      bench::record{}.add("bench", "probe").add("first_ms", first).add("second_ms", second).print();
    else
      std::printf("GetCart %s: first %.2f ms, second %.2f ms\n", probe.c_str(), first, second);
    return 0;
  }

  auto kind = call == "AddItem" ? call_kind::add_item : call == "GetCart" ? call_kind::get_cart : call_kind::echo;
  if (!json)
    std::printf("| call | callers | calls/s | p50 µs | p99 µs | errors |\n|---|---|---|---|---|---|\n");
  for (auto c : concurrency) {
    auto r = run(all, targets.size(), kind, c, entities, prefix, ids.empty() ? nullptr : &ids,
                 routes.empty() ? nullptr : &routes, std::chrono::seconds{seconds}, max_calls);
    bench::print_throughput(call, call, entities, c, r, {{"calls", r.calls}}, json);
  }
  return 0;
}
