// The "memory" plugin: every map lives in this process and is lost on exit. It exists for tests and for entities that
// need no durability, and it must behave exactly like the durable plugins (same fencing, versions and deletion
// rules), which the conformance suite checks.
//
// Every operation runs on one worker thread in issue order and then invokes its callback there, so callbacks keep
// their issue order for every persistence id and never run on the caller's thread.
//
// Its cluster coordination serves in-process tests only (several nodes in one process sharing one memory store): the
// node refuses `--cluster` with `--store memory`.
#pragma once

#include <memory>

#include "actorstate/persistence/store.hpp"

namespace actorstate::persistence::detail {

std::shared_ptr<store> make_memory_store(const store_options& options);

}  // namespace actorstate::persistence::detail
