#include "http/transcoder.hpp"

#include <unordered_map>
#include <utility>

#include <google/protobuf/arena.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>

#include "google/api/annotations.pb.h"
#include "google/api/http.pb.h"
#include "google/api/httpbody.pb.h"
#include "http/path_template.hpp"
#include "http/wire.hpp"

namespace actorstate::http {

namespace pb = google::protobuf;
using fd = pb::FieldDescriptor;

namespace {

constexpr std::string_view type_url_prefix = "type.googleapis.com";
constexpr std::string_view http_body_type = "google.api.HttpBody";

std::string type_url(const pb::Descriptor* d) {
  return std::string{type_url_prefix} + "/" + d->full_name();
}

bool is_http_body(const fd* f) {
  return f->cpp_type() == fd::CPPTYPE_MESSAGE && !f->is_repeated() && f->message_type()->full_name() == http_body_type;
}

/// The wire type of an integer or bool field, the types whose JSON the transcoder prints itself.
bool integer_wire_type(const fd* f, detail::wire_type& out) {
  switch (f->type()) {
    case fd::TYPE_INT32:
    case fd::TYPE_INT64:
    case fd::TYPE_UINT32:
    case fd::TYPE_UINT64:
    case fd::TYPE_SINT32:
    case fd::TYPE_SINT64:
    case fd::TYPE_BOOL:
    case fd::TYPE_FIXED32:
    case fd::TYPE_SFIXED32:
    case fd::TYPE_FIXED64:
    case fd::TYPE_SFIXED64:
      out = wire_format::wire_type_of(f);
      return true;
    default:
      return false;
  }
}

/// Finds a field by its proto name, or else by its JSON name (clients write either in query strings).
const fd* find_field(const pb::Descriptor* d, std::string_view name) {
  if (const auto* f = d->FindFieldByName(std::string{name}); f != nullptr)
    return f;
  for (int i = 0; i < d->field_count(); ++i)
    if (d->field(i)->json_name() == name)
      return d->field(i);
  return nullptr;
}

/// Reads the `google.api.http` option. Descriptors built at run time may carry it as unknown fields of their
/// options, so the options go through their bytes into the generated MethodOptions, which knows the extension.
bool read_rule(const pb::MethodDescriptor* method, google::api::HttpRule& out) {
  pb::MethodOptions options;
  if (!options.ParseFromString(method->options().SerializeAsString()) || !options.HasExtension(google::api::http))
    return false;
  out = options.GetExtension(google::api::http);
  return true;
}

/// Appends `text` as the value of the field at the end of `chain`, wrapped in its parent messages; invalid_argument
/// (encode_scalar's) if the text is no value of the field.
status encode_path(const std::vector<const fd*>& chain, std::string_view text, std::string& out) {
  if (chain.size() == 1)
    return detail::encode_scalar(chain[0], text, out);
  std::string inner;
  if (auto st = detail::encode_scalar(chain.back(), text, inner); !st.ok())
    return st;
  for (size_t i = chain.size() - 1; i-- > 0;) {
    std::string wrapped;
    detail::put_length_delimited(wrapped, chain[i]->number(), inner);
    inner.swap(wrapped);
  }
  out += inner;
  return {};
}

/// A rule `add` refuses, or a request `match` cannot turn into a call (HTTP 400).
status invalid(std::string message) {
  return {status_code::invalid_argument, std::move(message)};
}

/// The first line of a protobuf status message (the JSON parser appends a caret diagram).
std::string first_line(std::string_view text) {
  return std::string{text.substr(0, text.find('\n'))};
}

const pb::util::JsonPrintOptions& print_options() {
  static const pb::util::JsonPrintOptions options = [] {
    pb::util::JsonPrintOptions o;
    o.add_whitespace = false;
    o.always_print_primitive_fields = true;
    o.always_print_enums_as_ints = false;
    o.preserve_proto_field_names = false;
    return o;
  }();
  return options;
}

}  // namespace

struct binding {
  enum class body_rule : uint8_t { none, whole, field };
  enum class reply_rule : uint8_t { json, http_body, field_json, field_integer, field_http_body };

  const pb::MethodDescriptor* method = nullptr;
  std::string http_method;  ///< "GET", ..., or a custom kind; "*" matches any method.
  detail::path_template path;
  std::vector<std::vector<const fd*>> path_fields;  ///< The field chain of each path variable.

  body_rule body = body_rule::none;
  const fd* body_field = nullptr;
  bool raw_body = false;      ///< The body (or body field) is a google.api.HttpBody.
  bool integer_body = false;  ///< An integer body field: plain numbers skip the JSON parser.
  std::string body_prefix;    ///< `{"<json name>":`, wrapping a body field's JSON into a request object.

  reply_rule reply = reply_rule::json;
  const fd* response_field = nullptr;
  detail::wire_type response_wire = detail::wire_varint;
  std::string response_default;  ///< The JSON of the response field when the printed reply omits it.

  pb::util::TypeResolver* resolver = nullptr;
  const pb::Message* input_prototype = nullptr;
  const pb::Message* output_prototype = nullptr;
  std::string input_url;
  std::string output_url;
};

struct transcoder::impl {
  std::vector<std::unique_ptr<binding>> bindings;
  std::vector<std::pair<const pb::DescriptorPool*, std::unique_ptr<pb::util::TypeResolver>>> resolvers;
  // Candidates per HTTP method in definition order, "*" bindings included; matching walks them backwards so that
  // later bindings win.
  std::unordered_map<std::string, std::vector<const binding*>> by_method;
  std::vector<const binding*> any_method;

  pb::util::TypeResolver* resolver_for(const pb::DescriptorPool* pool) {
    for (auto& [p, r] : resolvers)
      if (p == pool)
        return r.get();
    resolvers.emplace_back(pool, pb::util::NewTypeResolverForDescriptorPool(std::string{type_url_prefix}, pool));
    return resolvers.back().second.get();
  }

  void index(const binding* b) {
    if (b->http_method == "*") {
      any_method.push_back(b);
      for (auto& [name, list] : by_method)
        list.push_back(b);
      return;
    }
    auto [i, fresh] = by_method.try_emplace(b->http_method);
    if (fresh)
      i->second = any_method;
    i->second.push_back(b);
  }

  /// The binding of one rule; invalid_argument (internal if `factory` cannot make the request or the reply) saying
  /// what is wrong,
  /// without naming the method.
  result<std::unique_ptr<binding>> make(const pb::MethodDescriptor* method, pb::MessageFactory* factory,
                                        const google::api::HttpRule& rule);

  status resolve_path_variables(binding& b) const;
  status resolve_body(binding& b, const std::string& body) const;
  status resolve_response(binding& b, const std::string& response_body);

  result<call> build(const binding& b, const request& r, const std::vector<std::string_view>& segs) const;
  /// Appends the query parameters to `payload` (the request being built).
  status add_query(const binding& b, std::string_view query, std::string& payload) const;
};

result<std::unique_ptr<binding>> transcoder::impl::make(const pb::MethodDescriptor* method, pb::MessageFactory* factory,
                                                        const google::api::HttpRule& rule) {
  using hr = google::api::HttpRule;
  if (!rule.selector().empty() && rule.selector() != method->full_name())
    return invalid("selector '" + rule.selector() + "' must be empty or the method's name");
  auto b = std::make_unique<binding>();
  b->method = method;
  std::string pattern;
  switch (rule.pattern_case()) {
    case hr::kGet:
      b->http_method = "GET";
      pattern = rule.get();
      break;
    case hr::kPut:
      b->http_method = "PUT";
      pattern = rule.put();
      break;
    case hr::kPost:
      b->http_method = "POST";
      pattern = rule.post();
      break;
    case hr::kDelete:
      b->http_method = "DELETE";
      pattern = rule.delete_();
      break;
    case hr::kPatch:
      b->http_method = "PATCH";
      pattern = rule.patch();
      break;
    case hr::kCustom:
      if (rule.custom().kind().empty())
        return invalid("custom pattern without a kind");
      b->http_method = rule.custom().kind();
      pattern = rule.custom().path();
      break;
    default:
      return invalid("no pattern (get, put, post, delete, patch or custom)");
  }
  auto path = detail::path_template::parse(pattern);
  if (!path.ok())
    return path.error();
  b->path = std::move(path).value();
  if (auto st = resolve_path_variables(*b); !st.ok())
    return st;
  if (auto st = resolve_body(*b, rule.body()); !st.ok())
    return st;
  b->resolver = resolver_for(method->file()->pool());
  b->input_url = type_url(method->input_type());
  b->output_url = type_url(method->output_type());
  b->input_prototype = factory->GetPrototype(method->input_type());
  if (b->input_prototype == nullptr)
    return status{status_code::internal, "the message factory cannot make " + method->input_type()->full_name()};
  b->output_prototype = factory->GetPrototype(method->output_type());
  if (b->output_prototype == nullptr)
    return status{status_code::internal, "the message factory cannot make " + method->output_type()->full_name()};
  if (auto st = resolve_response(*b, rule.response_body()); !st.ok())
    return st;
  return b;
}

status transcoder::impl::resolve_path_variables(binding& b) const {
  for (const auto& v : b.path.variables()) {
    std::vector<const fd*> chain;
    const pb::Descriptor* d = b.method->input_type();
    std::string_view rest = v.field_path;
    for (;;) {
      auto dot = rest.find('.');
      auto name = rest.substr(0, dot);
      const auto* f = find_field(d, name);
      if (f == nullptr)
        return invalid("path variable '" + v.field_path + "' refers to unknown field '" + std::string{name} + "' of " +
                       d->full_name());
      chain.push_back(f);
      if (dot == std::string_view::npos)
        break;
      if (f->cpp_type() != fd::CPPTYPE_MESSAGE || f->is_repeated())
        return invalid("path variable '" + v.field_path + "': '" + f->name() + "' is not a singular message field");
      d = f->message_type();
      rest.remove_prefix(dot + 1);
    }
    const auto* leaf = chain.back();
    if (leaf->is_repeated())
      return invalid("path variable '" + v.field_path + "' refers to repeated field " + leaf->full_name());
    if (leaf->cpp_type() == fd::CPPTYPE_MESSAGE)
      return invalid("path variable '" + v.field_path + "' refers to message field " + leaf->full_name() +
                     " (message path variables are not supported)");
    if (leaf->cpp_type() == fd::CPPTYPE_ENUM)
      return invalid("path variable '" + v.field_path + "' refers to enum field " + leaf->full_name() +
                     " (enum path variables are not supported)");
    b.path_fields.push_back(std::move(chain));
  }
  return {};
}

status transcoder::impl::resolve_body(binding& b, const std::string& body) const {
  const auto* input = b.method->input_type();
  if (body.empty())
    return {};
  if (body == "*") {
    b.body = binding::body_rule::whole;
    b.raw_body = input->full_name() == http_body_type;
    return {};
  }
  const auto* f = find_field(input, body);
  if (f == nullptr)
    return invalid("body field '" + body + "' does not exist in " + input->full_name());
  b.body = binding::body_rule::field;
  b.body_field = f;
  b.raw_body = is_http_body(f);
  detail::wire_type ignored;
  b.integer_body = !f->is_repeated() && f->type() != fd::TYPE_BOOL && integer_wire_type(f, ignored);
  b.body_prefix = "{\"" + f->json_name() + "\":";
  return {};
}

status transcoder::impl::resolve_response(binding& b, const std::string& response_body) {
  const auto* output = b.method->output_type();
  if (response_body.empty()) {
    b.reply = output->full_name() == http_body_type ? binding::reply_rule::http_body : binding::reply_rule::json;
    return {};
  }
  const auto* f = find_field(output, response_body);
  if (f == nullptr)
    return invalid("response_body field '" + response_body + "' does not exist in " + output->full_name());
  b.response_field = f;
  if (is_http_body(f)) {
    b.reply = binding::reply_rule::field_http_body;
    return {};
  }
  if (!f->is_repeated() && integer_wire_type(f, b.response_wire))
    b.reply = binding::reply_rule::field_integer;
  else
    b.reply = binding::reply_rule::field_json;
  // Printing with default values omits only unset oneof members, proto3 `optional` scalars and unset messages;
  // those render as their type's default.
  if (f->is_map()) {
    b.response_default = "{}";
  } else if (f->is_repeated()) {
    b.response_default = "[]";
  } else {
    switch (f->cpp_type()) {
      case fd::CPPTYPE_MESSAGE: {
        auto st = pb::util::BinaryToJsonString(b.resolver, type_url(f->message_type()), std::string{},
                                               &b.response_default, print_options());
        if (!st.ok() || b.response_default.empty())
          b.response_default = "null";
        break;
      }
      case fd::CPPTYPE_STRING:
        b.response_default = "\"\"";
        break;
      case fd::CPPTYPE_ENUM:
        b.response_default = "\"" + f->default_value_enum()->name() + "\"";
        break;
      case fd::CPPTYPE_INT64:
      case fd::CPPTYPE_UINT64:
        b.response_default = "\"0\"";
        break;
      case fd::CPPTYPE_BOOL:
        b.response_default = "false";
        break;
      default:
        b.response_default = "0";
        break;
    }
  }
  return {};
}

status transcoder::impl::add_query(const binding& b, std::string_view query, std::string& payload) const {
  std::vector<std::vector<const fd*>> singular_seen;
  std::string name;
  std::string value;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty())
      continue;
    auto eq = pair.find('=');
    auto raw_value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (!detail::percent_decode(pair.substr(0, eq), true, name) || !detail::percent_decode(raw_value, true, value))
      return invalid("Malformed request: broken percent-encoding in the query string");
    std::vector<const fd*> chain;
    const pb::Descriptor* d = b.method->input_type();
    std::string_view rest = name;
    for (;;) {
      auto dot = rest.find('.');
      const auto* f = find_field(d, rest.substr(0, dot));
      if (f == nullptr)
        return invalid("Unknown query parameter [" + name + "]: " + b.method->input_type()->full_name() +
                       " has no such field");
      chain.push_back(f);
      if (dot == std::string_view::npos)
        break;
      if (f->cpp_type() != fd::CPPTYPE_MESSAGE || f->is_repeated())
        return invalid("Query parameter [" + name + "] does not refer to a field: '" + f->name() +
                       "' is not a singular message field");
      d = f->message_type();
      rest.remove_prefix(dot + 1);
    }
    const auto* leaf = chain.back();
    if (leaf->cpp_type() == fd::CPPTYPE_MESSAGE)
      return invalid("Query parameter [" + name + "] refers to a message field");
    if (!leaf->is_repeated()) {
      for (const auto& seen : singular_seen) {
        if (seen == chain)
          return invalid("Multiple values sent for non-repeated field by query parameter [" + name + "]");
      }
      singular_seen.push_back(chain);
    }
    if (auto st = encode_path(chain, value, payload); !st.ok())
      return invalid("Malformed request: query parameter [" + name + "] " + st.message());
  }
  return {};
}

result<call> transcoder::impl::build(const binding& b, const request& r,
                                     const std::vector<std::string_view>& segs) const {
  std::string payload;
  // Whether the payload may differ from what protobuf's serializer makes of the message: JSON converted in the
  // order of its members (proto3 zeros included), or pieces (body, query, path) one after the other.
  bool assembled = false;
  if (b.body != binding::body_rule::none) {
    if (b.raw_body) {
      std::string raw;
      if (!r.content_type.empty())
        detail::put_length_delimited(raw, 1, r.content_type);
      if (!r.body.empty())
        detail::put_length_delimited(raw, 2, r.body);
      if (b.body == binding::body_rule::whole)
        payload = std::move(raw);
      else
        detail::put_length_delimited(payload, b.body_field->number(), raw);
    } else {
      auto text = detail::trim(r.body);
      if (r.content_type.empty() ? !text.empty() : !detail::is_json_content_type(r.content_type))
        return invalid("Content-type must be application/json!");
      if (!text.empty()) {
        bool done = false;
        assembled = true;
        if (b.integer_body) {
          // The counter's hot path: a bare or quoted integer needs no JSON parser (the field order is still fixed
          // below). Text that is no integer goes to the parser, whose error the client then gets.
          auto number = text;
          if (number.size() >= 2 && number.front() == '"' && number.back() == '"')
            number = number.substr(1, number.size() - 2);
          done = detail::encode_scalar(b.body_field, number, payload).ok();
        }
        if (!done) {
          pb::util::JsonParseOptions options;
          pb::util::Status st;
          if (b.body == binding::body_rule::whole) {
            st = pb::util::JsonToBinaryString(b.resolver, b.input_url, text, &payload, options);
          } else {
            std::string wrapped;
            wrapped.reserve(b.body_prefix.size() + text.size() + 1);
            wrapped += b.body_prefix;
            wrapped += text;
            wrapped += '}';
            st = pb::util::JsonToBinaryString(b.resolver, b.input_url, wrapped, &payload, options);
          }
          if (!st.ok())
            return invalid("Malformed request: " + first_line(st.message().ToString()));
        }
      }
    }
  }
  if (b.body != binding::body_rule::whole && !r.query.empty()) {
    if (auto st = add_query(b, r.query, payload); !st.ok())
      return st;
    assembled = true;
  }
  const auto& vars = b.path.variables();
  std::string decoded;
  for (size_t i = 0; i < vars.size(); ++i) {
    if (!detail::percent_decode(b.path.capture(vars[i], segs), false, decoded))
      return invalid("Malformed request: broken percent-encoding in the path");
    if (auto st = encode_path(b.path_fields[i], decoded, payload); !st.ok())
      return invalid("Malformed request: path variable [" + vars[i].field_path + "] " + st.message());
  }
  if (assembled || !vars.empty()) {
    // The pieces above follow each other in the order they were taken (body, query, path), not in field-number
    // order; JSON members come in the client's order; a path field may repeat one the body set. The reference
    // builds a message and serializes it, and a user function may compare, hash or sign the bytes it gets (the
    // Cloudstate TCK does): so serialize as protobuf does, in field order, with later values winning and proto3
    // defaults left out. On an arena: one allocation for the message and its fields.
    pb::Arena arena;
    auto* message = b.input_prototype->New(&arena);
    if (!message->ParsePartialFromString(payload))
      return invalid("Malformed request: the fields do not make a " + b.method->input_type()->full_name());
    payload.clear();
    message->SerializePartialToString(&payload);  // fails only above 2 GiB; requests are capped far below
  }
  call out;
  out.rule = &b;
  out.method = b.method;
  out.payload = std::move(payload);
  return out;
}

transcoder::transcoder() : impl_(std::make_unique<impl>()) {}

transcoder::~transcoder() = default;

status transcoder::add(const pb::MethodDescriptor* method, pb::MessageFactory* factory) {
  google::api::HttpRule rule;
  if (!read_rule(method, rule)) {
    rule.set_post("/" + method->service()->full_name() + "/" + method->name());
    rule.set_body("*");
  }
  // A frontend adds many methods: the message names the one at fault; the code stays the failed step's.
  auto fail = [&](status_code code, const std::string& what) {
    return status{code, "HTTP rule of " + method->full_name() + ": " + what};
  };
  std::vector<std::unique_ptr<binding>> made;
  auto b = impl_->make(method, factory, rule);
  if (!b.ok())
    return fail(b.error().code(), b.error().message());
  made.push_back(std::move(b).value());
  for (const auto& extra : rule.additional_bindings()) {
    if (extra.additional_bindings_size() > 0)
      return fail(status_code::invalid_argument, "additional_bindings may not be nested (only one level is supported)");
    auto more = impl_->make(method, factory, extra);
    if (!more.ok())
      return fail(more.error().code(), "additional binding: " + more.error().message());
    made.push_back(std::move(more).value());
  }
  for (auto& m : made) {
    impl_->index(m.get());
    impl_->bindings.push_back(std::move(m));
  }
  return {};
}

result<call> transcoder::match(const request& r) const {
  std::vector<std::string_view> segs;
  segs.reserve(8);
  auto not_found = [&] {
    return status{status_code::not_found, "Not found: no HTTP rule matches " + r.method + " " + r.path};
  };
  if (!detail::split_path(r.path, segs))
    return not_found();
  // A ':' in the last segment may start a custom verb; bindings with a verb match against the stripped segments.
  std::vector<std::string_view> stripped;
  std::string_view verb;
  bool has_verb = false;
  if (auto colon = segs.back().rfind(':'); colon != std::string_view::npos) {
    has_verb = true;
    verb = segs.back().substr(colon + 1);
    stripped = segs;
    stripped.back() = segs.back().substr(0, colon);
  }
  const auto* candidates = &impl_->any_method;
  if (auto i = impl_->by_method.find(r.method); i != impl_->by_method.end())
    candidates = &i->second;
  for (auto i = candidates->rbegin(); i != candidates->rend(); ++i) {
    const binding& b = **i;
    const auto* s = &segs;
    if (!b.path.verb().empty()) {
      if (!has_verb || verb != b.path.verb())
        continue;
      s = &stripped;
    }
    if (b.path.matches(*s))
      return impl_->build(b, r, *s);
  }
  return not_found();
}

result<rendered> transcoder::render(const binding& rule, std::string_view reply) const {
  rendered out;
  auto malformed = [&]() -> result<rendered> {
    return status{status_code::internal, "the reply does not parse as " + rule.method->output_type()->full_name()};
  };
  auto raw = [&](std::string_view bytes) -> result<rendered> {
    google::api::HttpBody body;
    if (!body.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
      return malformed();
    out.content_type = body.content_type().empty() ? "application/octet-stream" : body.content_type();
    out.body = std::move(*body.mutable_data());
    return std::move(out);
  };
  switch (rule.reply) {
    case binding::reply_rule::http_body:
      return raw(reply);
    case binding::reply_rule::field_http_body: {
      std::string sub;
      if (detail::scan_length_delimited(reply, rule.response_field->number(), sub) != detail::scan_result::ok)
        return malformed();
      return raw(sub);
    }
    case binding::reply_rule::field_integer: {
      uint64_t value = 0;
      auto res = detail::scan_scalar(reply, rule.response_field->number(), rule.response_wire, value);
      if (res == detail::scan_result::malformed)
        return malformed();
      if (res == detail::scan_result::ok && detail::integer_json(rule.response_field, value, out.body)) {
        out.content_type = "application/json";
        return out;
      }
      break;  // unusual encoding: let protobuf print it
    }
    default:
      break;
  }
  // Protobuf's printer does not notice broken bytes, so parse them first.
  std::unique_ptr<pb::Message> msg{rule.output_prototype->New()};
  if (!msg->ParseFromArray(reply.data(), static_cast<int>(reply.size())))
    return malformed();
  std::string json;
  pb::util::Status st;
  {
    pb::io::ArrayInputStream in{reply.data(), static_cast<int>(reply.size())};
    pb::io::StringOutputStream sink{&json};
    st = pb::util::BinaryToJsonStream(rule.resolver, rule.output_url, &in, &sink, print_options());
  }
  if (!st.ok())
    return status{status_code::internal, "cannot print the reply as JSON: " + st.message().ToString()};
  out.content_type = "application/json";
  if (rule.response_field == nullptr) {
    out.body = std::move(json);
    return out;
  }
  std::string_view value;
  if (detail::json_member(json, rule.response_field->json_name(), value))
    out.body = std::string{value};
  else
    out.body = rule.response_default;
  return out;
}

bool transcoder::server_streaming(const binding& rule) {
  return rule.method->server_streaming();
}

}  // namespace actorstate::http
