// The shopping cart as a native actorstate node, or with --user-function as a Cloudstate user function that any
// Cloudstate proxy can host: `shopping-cart --help` lists the flags.
#include "cart_entity.hpp"
#include "sample_main.hpp"

int main(int argc, char** argv) {
  return samples::sample_main(
      argc, argv, "actorstate shopping cart: the Cloudstate example as a native event-sourced entity", "shopping-cart",
      [] { return samples::model_list{shopping_cart::make_entity().model()}; });
}
