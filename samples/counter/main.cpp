// The durable counter as a native actorstate node, or with --user-function as a Cloudstate user function:
// `counter --help` lists the flags.
#include "counter_entity.hpp"
#include "sample_main.hpp"

int main(int argc, char** argv) {
  return samples::sample_main(argc, argv, "actorstate counter: a durable counter per key, as a native value entity",
                              "counter", [] { return samples::model_list{counter::make_entity().model()}; });
}
