// The shopping cart as a native actorstate node: `shopping-cart --help` lists the flags.
#include <CLI/CLI.hpp>

#include <actorstate/node.hpp>

#include "cart_entity.hpp"

int main(int argc, char** argv) {
  CLI::App app{"actorstate shopping cart: the Cloudstate example as a native event-sourced entity"};
  actorstate::node_options opts;
  actorstate::node_flags flags{app, opts};
  try {
    app.parse(argc, argv);
    flags.apply(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  actorstate::node node{opts};
  if (!node.add(shopping_cart::make_entity())) return 2;
  return node.run();
}
