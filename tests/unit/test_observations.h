#pragma once
// An observation of a report batch named as the outputs name it:
// "source/field", with a derived fact's source "rule:<id>".
#include <string>

#include "common/proto/names.h"
#include "common/schema/report.capnp.h"

namespace {

[[maybe_unused]] std::string observation_name(tapsense::schema::Observation::Reader o) {
  using tapsense::proto::field_name;
  using tapsense::proto::source_name;
  const auto s = source_name::from_index(o.getSourceId());
  const auto f = field_name::from_index(o.getFieldId());
  std::string n = s ? std::string(s->str()) : "<source " + std::to_string(o.getSourceId()) + ">";
  if (s && *s == source_name("rule")) n += ":" + std::string(o.getRule().cStr());
  return n + "/" + (f ? std::string(f->str()) : "<field " + std::to_string(o.getFieldId()) + ">");
}

}  // namespace
