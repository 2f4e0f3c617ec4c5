// The member of the CRDT cluster tests (crdt_cluster_test.cpp, crdt_partition.sh): the TCK's CRDT model services
// served natively, so a test can make every CRDT type, ask for any write consistency and stream a Vote, on any member.
// Same command line as the samples.
#include "crdt_model.hpp"
#include "sample_main.hpp"

int main(int argc, char** argv) {
  return samples::sample_main(argc, argv, "actorstate CRDT test member: the TCK's CRDT model services", "crdt-member",
                              [] {
                                return samples::model_list{tck::crdt_tck_model().model(), tck::crdt_two_model().model(),
                                                           tck::crdt_configured_model().model()};
                              });
}
