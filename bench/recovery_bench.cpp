// Recovery time of one event-sourced entity on the native path: writes --events AddItem events for one shopping
// cart through node::invoke (pipelined, --writers concurrent commands), closes the node, then --repeats times opens a
// fresh node on the same store, warms it up on other carts and times the first GetCart of the written cart (recovery:
// load the snapshot if any, replay the events after it, then the command) and a second one (the command alone). Once
// with snapshots off and once per --snapshot-every value. Checks that the recovered cart holds every event.
//   recovery_bench [--store-dir DIR | --store postgres://...] [--events 10000] [--snapshot-every 0,100]
//                  [--repeats 5] [--json]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include <actorstate/node.hpp>

#include "bench_common.hpp"
#include "bench_node.hpp"
#include "cart_entity.hpp"
#include "shoppingcart/shoppingcart.pb.h"

namespace {

namespace api = com::example::shoppingcart;
using bench::clock_type;
const std::string service = "com.example.shoppingcart.ShoppingCart";

actorstate::command_result call(actorstate::node& node, actorstate::command cmd) {
  auto done = std::make_shared<std::promise<actorstate::command_result>>();
  auto f = done->get_future();
  node.invoke(service, std::move(cmd), [done](actorstate::command_result r) { done->set_value(std::move(r)); });
  if (f.wait_for(std::chrono::seconds{120}) != std::future_status::ready)
    return actorstate::command_result::failure(actorstate::status_code::deadline_exceeded, "no reply in 120 s");
  return f.get();
}

actorstate::command get_cart(const std::string& id) {
  api::GetShoppingCart get;
  get.set_user_id(id);
  return {id, "GetCart", get.SerializeAsString(), {}};
}

/// Appends `events` AddItem events to cart `id` with `writers` commands in flight; returns the count that succeeded.
uint64_t fill(actorstate::node& node, const std::string& id, uint64_t events, size_t writers) {
  std::atomic<int64_t> budget{static_cast<int64_t>(events)};
  std::atomic<uint64_t> ok{0};
  std::atomic<size_t> finished{0};
  api::AddLineItem item;
  item.set_user_id(id);
  item.set_product_id("p");
  item.set_name("bench");
  item.set_quantity(1);
  auto payload = item.SerializeAsString();
  auto deadline = clock_type::now() + std::chrono::seconds{300};
  std::function<void()> next = [&] {
    if (budget.fetch_sub(1) <= 0 || clock_type::now() > deadline) {
      ++finished;
      return;
    }
    node.invoke(service, {id, "AddItem", payload, {}}, [&](actorstate::command_result r) {
      if (r.ok())
        ++ok;
      next();
    });
  };
  for (size_t i = 0; i < writers; ++i)
    next();
  while (finished.load() < writers)
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
  return ok.load();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"native recovery time of one entity with many events, with and without snapshots"};
  auto default_dir = std::filesystem::temp_directory_path() / ("actorstate-recovery-" + std::to_string(::getpid()));
  std::string store_dir;
  std::string store;
  uint64_t events = 10000;
  std::vector<int64_t> snapshot_every{0, 100};
  int repeats = 5;
  size_t writers = 32;
  std::string prefix = "recover";
  bool json = false;
  app.add_option("--store-dir", store_dir, "Directory for one SQLite file per interval (default: temporary, removed)");
  app.add_option("--store", store, "A shared store URI instead (postgres://...); carts get distinct ids");
  app.add_option("--events", events)->capture_default_str()->check(CLI::Range(1, 10'000'000));
  app.add_option("--snapshot-every", snapshot_every, "Snapshot intervals to compare (0: none)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--repeats", repeats, "Fresh nodes per interval; the median is reported")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--writers", writers, "Commands in flight while writing")->capture_default_str();
  app.add_option("--entity-prefix", prefix)->capture_default_str();
  app.add_flag("--json", json, "One JSON record per interval instead of text");
  CLI11_PARSE(app, argc, argv);
  bool own_dir = store_dir.empty() && store.empty();
  if (own_dir)
    store_dir = default_dir.string();
  if (store.empty())
    std::filesystem::create_directories(store_dir);

  int rc = 0;
  for (auto every : snapshot_every) {
    auto uri = store.empty() ? "sqlite:" + store_dir + "/recovery-" + std::to_string(every) + ".db" : store;
    auto id = prefix + "-" + std::to_string(every) + "-" + std::to_string(::getpid());
    auto make_cart = [every] {
      auto cart = shopping_cart::make_entity();
      cart.snapshot_every(every);
      return cart;
    };
    double write_s = 0;
    uint64_t written = 0;
    {
      actorstate::node node{bench::local_node_options(uri)};
      if (!bench::start_node(node, make_cart()))
        return 2;
      auto t0 = clock_type::now();
      written = fill(node, id, events, writers);
      write_s = bench::seconds_since(t0);
      bench::stop_node(node);
    }
    std::vector<double> first, second;
    bool complete = true;
    for (int r = 0; r < repeats; ++r) {
      actorstate::node node{bench::local_node_options(uri)};
      if (!bench::start_node(node, make_cart()))
        return 2;
      bool answered = true;
      for (int w = 0; w < 3; ++w)
        answered = call(node, get_cart("warmup-" + std::to_string(w))).ok() && answered;
      auto t0 = clock_type::now();
      auto reply = call(node, get_cart(id));
      first.push_back(bench::micros_since(t0) / 1000.0);
      t0 = clock_type::now();
      answered = call(node, get_cart(id)).ok() && answered;
      second.push_back(bench::micros_since(t0) / 1000.0);
      if (!answered) {
        std::fprintf(stderr, "recovery_bench: a warm-up or repeated GetCart failed\n");
        complete = false;
      }
      api::Cart cart;
      if (!reply.ok() || !cart.ParseFromString(reply.payload) || cart.items_size() != 1 ||
          static_cast<uint64_t>(cart.items(0).quantity()) != written) {
        std::fprintf(stderr, "recovery_bench: the recovered cart does not hold the %llu events written (%s)\n",
                     static_cast<unsigned long long>(written), reply.status.message().c_str());
        complete = false;
        rc = 1;
      }
      bench::stop_node(node);
    }
    auto min = *std::min_element(first.begin(), first.end());
    auto max = *std::max_element(first.begin(), first.end());
    auto median = bench::percentile(first, 0.5);
    auto warm = bench::percentile(second, 0.5);
    if (json)
      bench::record{}
          .add("bench", "recovery")
          .add("snapshot_every", static_cast<uint64_t>(every))
          .add("events", written)
          .add("first_ms", median)
          .add("first_ms_min", min)
          .add("first_ms_max", max)
          .add("second_ms", warm)
          .add("repeats", static_cast<uint64_t>(repeats))
          .add("write_s", write_s)
          .add("complete", uint64_t{complete ? 1u : 0u})
          .print();
    else
      std::printf(
          "snapshot every %lld: %llu events written in %.1f s; first GetCart after a restart %.2f ms "
          "(median of %d, %.2f..%.2f), second %.2f ms%s\n",
          static_cast<long long>(every), static_cast<unsigned long long>(written), write_s, median, repeats, min, max,
          warm, complete ? "" : " (INCOMPLETE STATE)");
  }
  if (own_dir)
    std::filesystem::remove_all(store_dir);
  return rc;
}
