#include "idempotency.hpp"

#include <cstdint>
#include <utility>

namespace actorstate::runtime::idempotency {

namespace {

constexpr char format_version = 1;

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i])
      return false;
  }
  return true;
}

// Unsigned LEB128 numbers and length-prefixed strings.
void put_number(std::string& out, uint64_t n) {
  while (n >= 0x80) {
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
}

void put_text(std::string& out, std::string_view s) {
  put_number(out, s.size());
  out.append(s);
}

class reader {
public:
  explicit reader(std::string_view in) : in_(in) {}

  bool number(uint64_t& n) {
    n = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty())
        return false;
      auto byte = static_cast<unsigned char>(in_.front());
      in_.remove_prefix(1);
      n |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0)
        return true;
    }
    return false;
  }

  bool text(std::string& s) {
    uint64_t n = 0;
    if (!number(n) || n > in_.size())
      return false;
    s.assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }

  bool done() const { return in_.empty(); }

private:
  std::string_view in_;
};

}  // namespace

std::string_view key_of(const command& cmd) {
  for (const auto& entry : cmd.metadata)
    if (equals_ignoring_case(entry.key, header))
      return entry.value;
  return {};
}

std::string encode(const reply_plan& plan) {
  std::string out;
  out.push_back(format_version);
  put_number(out, static_cast<uint64_t>(plan.result.status.code()));
  put_text(out, plan.result.status.message());
  put_text(out, plan.result.payload);
  put_number(out, plan.result.metadata.size());
  for (const auto& entry : plan.result.metadata) {
    put_text(out, entry.key);
    put_text(out, entry.value);
  }
  put_number(out, plan.forward ? 1 : 0);
  if (plan.forward) {
    put_text(out, plan.forward->service_name);
    put_text(out, plan.forward->method);
    put_text(out, plan.forward->payload.type);
    put_text(out, plan.forward->payload.payload);
  }
  return out;
}

std::optional<reply_plan> decode(std::string_view stored) {
  if (stored.empty() || stored.front() != format_version)
    return std::nullopt;
  reader in{stored.substr(1)};
  uint64_t code = 0;
  std::string message;
  reply_plan plan;
  uint64_t entries = 0;
  if (!in.number(code) || code > static_cast<uint64_t>(status_code::unknown_outcome) || !in.text(message) ||
      !in.text(plan.result.payload) || !in.number(entries))
    return std::nullopt;
  plan.result.status = status{static_cast<status_code>(code), std::move(message)};
  for (uint64_t i = 0; i < entries; ++i) {
    metadata_entry entry;
    if (!in.text(entry.key) || !in.text(entry.value))
      return std::nullopt;
    plan.result.metadata.push_back(std::move(entry));
  }
  uint64_t forwarded = 0;
  if (!in.number(forwarded) || forwarded > 1)
    return std::nullopt;
  if (forwarded == 1) {
    detail::effect_call call;
    if (!in.text(call.service_name) || !in.text(call.method) || !in.text(call.payload.type) ||
        !in.text(call.payload.payload))
      return std::nullopt;
    plan.forward = std::move(call);
  }
  if (!in.done())
    return std::nullopt;
  return plan;
}

}  // namespace actorstate::runtime::idempotency
