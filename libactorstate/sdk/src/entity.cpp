#include "actorstate/entity.hpp"

namespace actorstate {

std::string type_url(const google::protobuf::Descriptor* descriptor) {
  return "type.googleapis.com/" + descriptor->full_name();
}

}  // namespace actorstate
