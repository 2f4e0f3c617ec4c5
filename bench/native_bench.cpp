// Native entity path: closed-loop clients (each waits for its reply before its next command) call the shopping
// cart's AddItem in-process (node::invoke, no gRPC) against a durable store, over many entities and over one hot
// entity. Measures durable commands/s and the p50/p99 latency per scenario; prints a table, or with --json one
// record per scenario (for bench/run.sh). Each scenario is bounded by --seconds and by --max-commands.
//   native_bench [--store sqlite:/tmp/bench.db | postgres://...] [--seconds 3] [--clients 1,32,256]
//                [--entities 1000,1] [--entity-prefix user-] [--json]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include <actorstate/node.hpp>

#include "bench_common.hpp"
#include "bench_node.hpp"
#include "cart_entity.hpp"
#include "invoke_loop.hpp"
#include "shoppingcart/shoppingcart.pb.h"

namespace {

using bench::clock_type;

bench::invoke_result run(actorstate::node& node, size_t clients, size_t entities, const std::string& prefix,
                         std::chrono::seconds duration, uint64_t max_commands) {
  return bench::run_invoke_loop(node, clients, duration, max_commands, [&](size_t client, uint64_t n) {
    com::example::shoppingcart::AddLineItem item;
    auto user = prefix + std::to_string((client + n * clients) % entities);
    item.set_user_id(user);
    item.set_product_id("p");
    item.set_name("bench");
    item.set_quantity(1);
    return std::pair<std::string, actorstate::command>{"com.example.shoppingcart.ShoppingCart",
                                                       {user, "AddItem", item.SerializeAsString(), {}}};
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"native entity benchmark: durable AddItem through node::invoke"};
  auto dir = std::filesystem::temp_directory_path() / ("actorstate-bench-" + std::to_string(::getpid()));
  std::string store;
  int seconds = 3;
  std::vector<size_t> clients{1, 32, 256};
  std::vector<size_t> entities{1000, 1};
  std::string prefix = "user-";
  uint64_t max_commands = 5'000'000;
  bool json = false;
  app.add_option("--store", store, "Store URI (default sqlite: in a fresh temporary directory)");
  app.add_option("--seconds", seconds)->capture_default_str()->check(CLI::Range(1, 600));
  app.add_option("--clients", clients, "Closed-loop clients per scenario")->delimiter(',')->capture_default_str();
  app.add_option("--entities", entities, "Entities the clients spread over")->delimiter(',')->capture_default_str();
  app.add_option("--entity-prefix", prefix, "Entity id prefix (distinct per run on a shared database)")
      ->capture_default_str();
  app.add_option("--max-commands", max_commands, "Upper bound of commands per scenario")->capture_default_str();
  app.add_flag("--json", json, "One JSON record per scenario instead of a table");
  CLI11_PARSE(app, argc, argv);
  for (auto e : entities)
    if (e == 0) {
      std::fprintf(stderr, "--entities must be positive\n");
      return 2;
    }

  bool own_dir = store.empty();
  if (own_dir) {
    std::filesystem::create_directories(dir);
    store = "sqlite:" + (dir / "bench.db").string();
  }
  actorstate::node node{bench::local_node_options(store)};
  if (!bench::start_node(node, shopping_cart::make_entity()))
    return 2;
  if (!json)
    std::printf("| scenario | clients | commands/s | p50 µs | p99 µs | errors |\n|---|---|---|---|---|---|\n");
  for (size_t e : entities)
    for (size_t c : clients) {
      auto r = run(node, c, e, prefix, std::chrono::seconds{seconds}, max_commands);
      bench::print_throughput("native", bench::entities_label(e), e, c, r, {{"commands", r.commands}}, json);
    }
  bench::stop_node(node);
  if (own_dir)
    std::filesystem::remove_all(dir);
  return 0;
}
