// actorstate-proxy: serves the entities of a Cloudstate 0.2 user function (any language) to gRPC clients, with
// the state in actorstate's store. `actorstate-proxy --help` lists the flags.
#include <CLI/CLI.hpp>

#include <actorstate/bridge.hpp>
#include <actorstate/node.hpp>

int main(int argc, char** argv) {
  CLI::App app{"actorstate-proxy: a Cloudstate protocol 0.2 proxy for polyglot user functions"};
  actorstate::node_options node_opts;
  actorstate::node_flags node_flags{app, node_opts};
  actorstate::bridge::bridge_options bridge_opts;
  actorstate::bridge::bridge_flags bridge_flags{app, bridge_opts};
  try {
    app.parse(argc, argv);
    node_flags.apply(argc, argv);
    bridge_flags.apply(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  bridge_opts.max_message_size = node_opts.max_message_size;
  // The exit code when the proxy cannot start (the failure is logged already): 2, as it has always been, for the
  // scripts and supervisors that check it.
  constexpr int startup_failed = 2;
  actorstate::node node{node_opts};
  // The management endpoint answers (not ready) while the user function is being discovered; the client port
  // opens only after discovery succeeded.
  if (!node.open().ok())
    return startup_failed;
  if (!actorstate::bridge::discover(node, bridge_opts, [&node] { return node.stopping(); }))
    return node.stopping() ? 0 : startup_failed;
  return node.run().ok() ? 0 : startup_failed;
}
