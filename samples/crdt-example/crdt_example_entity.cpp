#include "crdt_example_entity.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <google/protobuf/empty.pb.h>

namespace crdt_example {

namespace ex = com::example::crdts;
namespace crdt = actorstate::crdt;
using actorstate::failure;
using actorstate::outcome;

namespace {

/// A failure if the key already holds a CRDT of another type than T (the handler would otherwise throw).
template <class T, class Context>
std::optional<failure> other_type(const Context& ctx) {
  auto state = ctx.state();
  if (!state || state->type() == T::kind)
    return std::nullopt;
  return failure{"Key " + ctx.entity_id() + " holds a " + std::string{crdt::to_string(state->type())} +
                 " (this method's CRDT is " + std::string{crdt::to_string(T::kind)} + ")"};
}

ex::CounterValue counter_value(int64_t value) {
  ex::CounterValue reply;
  reply.set_value(value);
  return reply;
}

ex::SetSize set_size(size_t size) {
  ex::SetSize reply;
  reply.set_size(static_cast<int32_t>(size));
  return reply;
}

/// The SomeValue elements of a set, in the set's order (elements of other types, which this service never adds,
/// are left out).
ex::SetValue set_value(const std::vector<crdt::value>& elements) {
  ex::SetValue reply;
  for (const auto& e : elements)
    if (auto item = crdt::as_message<ex::SomeValue>(e))
      *reply.add_items() = std::move(*item);
  return reply;
}

ex::OnlineStatus online_status(bool online) {
  ex::OnlineStatus status;
  status.set_online(online);
  return status;
}

/// The Connect calls open in this process, per user: a user's vote here goes back to "no" only when the last one
/// ends. Shared by the instances of all users (each runs in its own actor), hence the lock. A process is one member
/// (a node, or the user function of one proxy: the sidecar layout); a user function shared by several proxies would
/// count their connections together.
struct open_connects {
  std::mutex lock;
  std::map<std::string, int> count;
};

/// One open Connect call. It lives as long as the call's subscription: when the conversation drops the
/// subscription without a cancellation (the entity is deleted, the conversation ends), it is no longer counted.
class connection {
public:
  connection(std::shared_ptr<open_connects> all, std::string user) : all_(std::move(all)), user_(std::move(user)) {
    std::lock_guard guard{all_->lock};
    ++all_->count[user_];
  }
  ~connection() { close(); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Whether no other Connect of this user is open in this process.
  bool last() const {
    std::lock_guard guard{all_->lock};
    auto i = all_->count.find(user_);
    return i == all_->count.end() || i->second <= 1;
  }

  void close() {
    if (closed_)
      return;
    closed_ = true;
    std::lock_guard guard{all_->lock};
    if (auto i = all_->count.find(user_); i != all_->count.end() && --i->second <= 0)
      all_->count.erase(i);
  }

private:
  std::shared_ptr<open_connects> all_;
  std::string user_;
  bool closed_ = false;
};

}  // namespace

actorstate::crdt_entity make_entity() {
  actorstate::crdt_entity entity{"com.example.crdts.CrdtExample", "crdt-example"};
  auto connects = std::make_shared<open_connects>();

  entity
      .on_command<ex::UpdateCounter, ex::CounterValue>(
          "IncrementGCounter",
          [](const ex::UpdateCounter& update, actorstate::crdt_context& ctx) -> outcome<ex::CounterValue> {
            if (update.value() < 0)
              return failure{"Cannot decrement gcounter"};
            if (auto wrong = other_type<crdt::gcounter>(ctx))
              return *wrong;
            auto counter = ctx.state_or_create<crdt::gcounter>();
            counter.increment(static_cast<uint64_t>(update.value()));
            return counter_value(static_cast<int64_t>(counter.value()));
          })
      .on_command<ex::Get, ex::CounterValue>(
          "GetGCounter",
          [](const ex::Get&, actorstate::crdt_context& ctx) -> outcome<ex::CounterValue> {
            if (auto wrong = other_type<crdt::gcounter>(ctx))
              return *wrong;
            auto counter = ctx.state<crdt::gcounter>();
            return counter_value(counter ? static_cast<int64_t>(counter->value()) : 0);
          })
      .on_command<ex::UpdateCounter, ex::CounterValue>(
          "UpdatePNCounter",
          [](const ex::UpdateCounter& update, actorstate::crdt_context& ctx) -> outcome<ex::CounterValue> {
            if (auto wrong = other_type<crdt::pncounter>(ctx))
              return *wrong;
            auto counter = ctx.state_or_create<crdt::pncounter>();
            counter.increment(update.value());
            return counter_value(counter.value());
          })
      .on_command<ex::Get, ex::CounterValue>(
          "GetPNCounter",
          [](const ex::Get&, actorstate::crdt_context& ctx) -> outcome<ex::CounterValue> {
            if (auto wrong = other_type<crdt::pncounter>(ctx))
              return *wrong;
            auto counter = ctx.state<crdt::pncounter>();
            return counter_value(counter ? counter->value() : 0);
          })
      .on_command<ex::MutateSet, ex::SetSize>(
          "MutateGSet",
          [](const ex::MutateSet& mutation, actorstate::crdt_context& ctx) -> outcome<ex::SetSize> {
            if (auto wrong = other_type<crdt::gset>(ctx))
              return *wrong;
            auto set = ctx.state_or_create<crdt::gset>();
            for (const auto& item : mutation.add())
              set.add(crdt::of_message(item));
            return set_size(set.size());
          })
      .on_command<ex::Get, ex::SetValue>("GetGSet",
                                         [](const ex::Get&, actorstate::crdt_context& ctx) -> outcome<ex::SetValue> {
                                           if (auto wrong = other_type<crdt::gset>(ctx))
                                             return *wrong;
                                           auto set = ctx.state<crdt::gset>();
                                           return set ? set_value(set->elements()) : ex::SetValue{};
                                         })
      .on_command<ex::MutateSet, ex::SetSize>(
          "MutateORSet",
          [](const ex::MutateSet& mutation, actorstate::crdt_context& ctx) -> outcome<ex::SetSize> {
            if (auto wrong = other_type<crdt::orset>(ctx))
              return *wrong;
            auto set = ctx.state_or_create<crdt::orset>();
            if (mutation.clear())
              set.clear();
            for (const auto& item : mutation.remove())
              set.remove(crdt::of_message(item));
            for (const auto& item : mutation.add())
              set.add(crdt::of_message(item));
            return set_size(set.size());
          })
      .on_command<ex::Get, ex::SetValue>("GetORSet",
                                         [](const ex::Get&, actorstate::crdt_context& ctx) -> outcome<ex::SetValue> {
                                           if (auto wrong = other_type<crdt::orset>(ctx))
                                             return *wrong;
                                           auto set = ctx.state<crdt::orset>();
                                           return set ? set_value(set->elements()) : ex::SetValue{};
                                         })
      .on_stream<ex::User, google::protobuf::Empty>(
          "Connect",
          [connects](const ex::User&, actorstate::crdt_stream_context<google::protobuf::Empty>& ctx)
              -> outcome<google::protobuf::Empty> {
            if (auto wrong = other_type<crdt::vote>(ctx))
              return *wrong;
            auto vote = ctx.state_or_create<crdt::vote>();
            // As in the reference, a Connect that is not streamed connects nobody.
            if (!ctx.streamed())
              return actorstate::no_reply;
            auto open = std::make_shared<connection>(connects, ctx.entity_id());
            vote.cast(true);
            ctx.on_cancel([open](actorstate::crdt_cancel_context& cancel) {
              if (open->last())
                if (auto vote = cancel.state<crdt::vote>())
                  vote->cast(false);
              open->close();
            });
            return actorstate::no_reply;
          })
      .on_stream<ex::User, ex::OnlineStatus>(
          "Monitor",
          [](const ex::User&, actorstate::crdt_stream_context<ex::OnlineStatus>& ctx) -> outcome<ex::OnlineStatus> {
            if (auto wrong = other_type<crdt::vote>(ctx))
              return *wrong;
            bool online = ctx.state_or_create<crdt::vote>().at_least_one();
            if (ctx.streamed()) {
              // What the client was told last: a change that leaves the status as it was sends nothing.
              auto told = std::make_shared<bool>(online);
              ctx.on_change([told](actorstate::crdt_change_context& change) -> outcome<ex::OnlineStatus> {
                auto vote = change.state<crdt::vote>();
                bool now = vote && vote->at_least_one();
                if (now == *told)
                  return actorstate::no_reply;
                *told = now;
                return online_status(now);
              });
            }
            return online_status(online);
          });
  return entity;
}

}  // namespace crdt_example
