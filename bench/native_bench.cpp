// Native entity path: closed-loop clients call the shopping cart's AddItem in-process (node::invoke, no gRPC)
// against a durable store, over many entities and over one hot entity. Prints one table row per scenario.
//   native_bench [--store sqlite:/tmp/bench.db] [--seconds 3]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include <actorstate/node.hpp>

#include "cart_entity.hpp"
#include "shoppingcart/shoppingcart.pb.h"

namespace {

using clock_type = std::chrono::steady_clock;

struct scenario_result {
  double rate = 0;
  double p50_us = 0;
  double p99_us = 0;
  uint64_t errors = 0;
};

scenario_result run(actorstate::node& node, size_t clients, size_t entities, std::chrono::seconds duration) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<size_t> finished{0};
  std::mutex mtx;
  std::vector<double> latencies;
  struct client {
    size_t index;
    uint64_t n = 0;
    std::vector<double> lat;
  };
  std::vector<std::unique_ptr<client>> cs;
  for (size_t i = 0; i < clients; ++i)
    cs.push_back(std::make_unique<client>(client{i}));
  std::function<void(client*)> next = [&](client* c) {
    if (stop.load()) {
      std::lock_guard<std::mutex> guard{mtx};
      latencies.insert(latencies.end(), c->lat.begin(), c->lat.end());
      ++finished;
      return;
    }
    com::example::shoppingcart::AddLineItem item;
    auto user = "user-" + std::to_string((c->index + c->n * clients) % entities);
    item.set_user_id(user);
    item.set_product_id("p");
    item.set_name("bench");
    item.set_quantity(1);
    ++c->n;
    auto start = clock_type::now();
    node.invoke("com.example.shoppingcart.ShoppingCart", {user, "AddItem", item.SerializeAsString()},
                [&, c, start](actorstate::command_result r) {
                  c->lat.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - start).count());
                  if (!r.ok())
                    ++errors;
                  ++done;
                  next(c);
                });
  };
  auto t0 = clock_type::now();
  for (auto& c : cs)
    next(c.get());
  std::this_thread::sleep_for(duration);
  stop = true;
  auto elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  while (finished.load() < clients)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  std::sort(latencies.begin(), latencies.end());
  scenario_result r;
  r.rate = static_cast<double>(done.load()) / elapsed;
  if (!latencies.empty()) {
    r.p50_us = latencies[latencies.size() / 2];
    r.p99_us = latencies[latencies.size() * 99 / 100];
  }
  r.errors = errors.load();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"native entity benchmark"};
  auto dir = std::filesystem::temp_directory_path() / ("actorstate-bench-" + std::to_string(::getpid()));
  std::string store = "sqlite:" + (dir / "bench.db").string();
  int seconds = 3;
  app.add_option("--store", store)->capture_default_str();
  app.add_option("--seconds", seconds)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  actorstate::node_options opts;
  opts.store = store;
  opts.port = 0;
  opts.management_port = 0;
  opts.bind = "127.0.0.1";
  opts.log_level = "warn";
  actorstate::node node{opts};
  node.add(shopping_cart::make_entity());
  if (node.start() != 0)
    return 2;
  std::printf("| scenario | clients | commands/s | p50 µs | p99 µs | errors |\n|---|---|---|---|---|---|\n");
  for (size_t entities : {size_t{1000}, size_t{1}})
    for (size_t clients : {size_t{1}, size_t{32}, size_t{256}}) {
      auto r = run(node, clients, entities, std::chrono::seconds{seconds});
      std::printf("| %s | %zu | %.0f | %.0f | %.0f | %llu |\n", entities == 1 ? "1 hot entity" : "1000 entities",
                  clients, r.rate, r.p50_us, r.p99_us, static_cast<unsigned long long>(r.errors));
      std::fflush(stdout);
    }
  node.stop();
  node.run();
  std::filesystem::remove_all(dir);
  return 0;
}
