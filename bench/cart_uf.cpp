// The shopping cart served as a Cloudstate user function (as `shopping-cart --user-function`) with a chosen snapshot
// interval, for the proxy path's recovery rows: `--snapshot-every 0` makes the proxy replay every event on recovery.
// Runs until SIGTERM/SIGINT.
//   cart_uf --port PORT [--port-file FILE] [--snapshot-every 0]
#include <string>

#include <CLI/CLI.hpp>

#include <actorstate/user_function.hpp>

#include "cart_entity.hpp"

int main(int argc, char** argv) {
  CLI::App app{"the shopping cart as a Cloudstate user function, with a chosen snapshot interval"};
  actorstate::user_function_options opts;
  int64_t snapshot_every = 0;
  opts.service_name = "cart_uf";
  opts.log_level = "warn";
  app.add_option("--host", opts.host)->capture_default_str();
  app.add_option("--port", opts.port)->capture_default_str();
  app.add_option("--port-file", opts.port_file);
  app.add_option("--snapshot-every", snapshot_every, "Snapshot interval in events (0: never)")->capture_default_str();
  app.add_option("--log-level", opts.log_level)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  auto cart = shopping_cart::make_entity();
  cart.snapshot_every(snapshot_every);
  actorstate::user_function_server server{opts};
  // 2 when the user function cannot start (logged already), as the samples' `--user-function` mode exits.
  if (!server.add(cart).ok())
    return 2;
  return server.run().ok() ? 0 : 2;
}
