// Builders of the TCK model services' requests and payloads (Request, RequestAction, ProcessStep, Response,
// Persisted), shared by the model suite (tck/) and the proxy suite (tck_proxy/). One namespace per model, since the
// models' messages share names: es_model (EventSourcedTckModel), ve_model (ValueEntityTckModel), action_model
// (ActionTckModel). Pure functions.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include <google/protobuf/any.pb.h>

#include "cloudstate/tck/model/action.pb.h"
#include "cloudstate/tck/model/eventsourced.pb.h"
#include "cloudstate/tck/model/valueentity.pb.h"
#include "messages.hpp"

namespace tck {

namespace es_model {

namespace m = cloudstate::tck::model;
using actions = std::vector<m::RequestAction>;

inline m::RequestAction emit_event(const std::string& value) {
  m::RequestAction action;
  action.mutable_emit()->set_value(value);
  return action;
}

inline actions emit_events(std::initializer_list<std::string> values) {
  actions result;
  for (const auto& v : values)
    result.push_back(emit_event(v));
  return result;
}

inline m::RequestAction forward_to(const std::string& id) {
  m::RequestAction action;
  action.mutable_forward()->set_id(id);
  return action;
}

inline m::RequestAction side_effect_to(const std::string& id, bool synchronous = false) {
  m::RequestAction action;
  action.mutable_effect()->set_id(id);
  action.mutable_effect()->set_synchronous(synchronous);
  return action;
}

inline actions side_effects_to(std::initializer_list<std::string> ids) {
  actions result;
  for (const auto& id : ids)
    result.push_back(side_effect_to(id));
  return result;
}

inline m::RequestAction fail_with(const std::string& message) {
  m::RequestAction action;
  action.mutable_fail()->set_message(message);
  return action;
}

inline actions operator+(actions a, const actions& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline m::Request request(const std::string& id, const actions& acts = {}) {
  m::Request req;
  req.set_id(id);
  for (const auto& a : acts)
    *req.add_actions() = a;
  return req;
}

inline m::Response response(const std::string& message = {}) {
  m::Response r;
  r.set_message(message);
  return r;
}

/// An event or snapshot of the model as a proxy stores and replays it.
inline google::protobuf::Any persisted(const std::string& value) {
  m::Persisted p;
  p.set_value(value);
  return pack(p);
}

}  // namespace es_model

namespace ve_model {

namespace m = cloudstate::tck::model::valueentity;
using actions = std::vector<m::RequestAction>;

inline m::RequestAction update_state(const std::string& value) {
  m::RequestAction action;
  action.mutable_update()->set_value(value);
  return action;
}

inline actions update_states(std::initializer_list<std::string> values) {
  actions result;
  for (const auto& v : values)
    result.push_back(update_state(v));
  return result;
}

inline m::RequestAction delete_state() {
  m::RequestAction action;
  action.mutable_delete_();
  return action;
}

inline m::RequestAction forward_to(const std::string& id) {
  m::RequestAction action;
  action.mutable_forward()->set_id(id);
  return action;
}

inline m::RequestAction side_effect_to(const std::string& id, bool synchronous = false) {
  m::RequestAction action;
  action.mutable_effect()->set_id(id);
  action.mutable_effect()->set_synchronous(synchronous);
  return action;
}

inline actions side_effects_to(std::initializer_list<std::string> ids) {
  actions result;
  for (const auto& id : ids)
    result.push_back(side_effect_to(id));
  return result;
}

inline m::RequestAction fail_with(const std::string& message) {
  m::RequestAction action;
  action.mutable_fail()->set_message(message);
  return action;
}

inline actions operator+(actions a, const actions& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline m::Request request(const std::string& id, const actions& acts = {}) {
  m::Request req;
  req.set_id(id);
  for (const auto& a : acts)
    *req.add_actions() = a;
  return req;
}

inline m::Response response(const std::string& message = {}) {
  m::Response r;
  r.set_message(message);
  return r;
}

/// A state of the model as a proxy stores it.
inline google::protobuf::Any persisted(const std::string& value) {
  m::Persisted p;
  p.set_value(value);
  return pack(p);
}

}  // namespace ve_model

namespace action_model {

namespace m = cloudstate::tck::model::action;

inline m::ProcessStep reply_with(const std::string& message) {
  m::ProcessStep step;
  step.mutable_reply()->set_message(message);
  return step;
}

inline m::ProcessStep forward_to(const std::string& id) {
  m::ProcessStep step;
  step.mutable_forward()->set_id(id);
  return step;
}

inline m::ProcessStep fail_with(const std::string& message) {
  m::ProcessStep step;
  step.mutable_fail()->set_message(message);
  return step;
}

inline m::ProcessStep side_effect_to(const std::string& id, bool synchronous = false) {
  m::ProcessStep step;
  step.mutable_effect()->set_id(id);
  step.mutable_effect()->set_synchronous(synchronous);
  return step;
}

/// One group of steps, as the TCK's `single(...)`.
inline m::Request single(std::initializer_list<m::ProcessStep> steps) {
  m::Request request;
  auto* group = request.add_groups();
  for (const auto& step : steps)
    *group->add_steps() = step;
  return request;
}

inline m::ProcessGroup group(std::initializer_list<m::ProcessStep> steps) {
  m::ProcessGroup g;
  for (const auto& step : steps)
    *g.add_steps() = step;
  return g;
}

/// Several groups of steps, as the TCK's `request(group(...), ...)`.
inline m::Request request(std::initializer_list<m::ProcessGroup> groups) {
  m::Request r;
  for (const auto& g : groups)
    *r.add_groups() = g;
  return r;
}

inline m::Response response(const std::string& message = {}) {
  m::Response r;
  r.set_message(message);
  return r;
}

inline m::OtherRequest other_request(const std::string& id) {
  m::OtherRequest request;
  request.set_id(id);
  return request;
}

}  // namespace action_model

}  // namespace tck
