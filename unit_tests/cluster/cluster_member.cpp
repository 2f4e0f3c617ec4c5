// The member of the cluster fault scenarios (fault_scenario.sh): it exists because their load is durable counter adds
// AND shopping-cart commands (issue 14), and each sample binary hosts only its own entity type. A test-only node
// serving both, with the samples' command line.
#include "cart_entity.hpp"
#include "counter_entity.hpp"
#include "sample_main.hpp"

int main(int argc, char** argv) {
  return samples::sample_main(
      argc, argv, "actorstate cluster member: the counter and the shopping cart", "cluster-member", [] {
        return samples::model_list{counter::make_entity().model(), shopping_cart::make_entity().model()};
      });
}
