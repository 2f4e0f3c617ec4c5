// The Cloudstate CRDT example as a native actorstate node, or with --user-function as a Cloudstate user function:
// `crdt-example --help` lists the flags.
#include "crdt_example_entity.hpp"
#include "sample_main.hpp"

int main(int argc, char** argv) {
  return samples::sample_main(argc, argv,
                              "actorstate CRDT example: the Cloudstate CrdtExample service as native CRDT entities",
                              "crdt-example", [] { return samples::model_list{crdt_example::make_entity().model()}; });
}
