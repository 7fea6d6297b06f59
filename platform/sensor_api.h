#pragma once
// The three sensor endpoints of common/schema/platform.capnp: packed Cap'n
// Proto in and out, errors as an HTTP status with one text/plain line.
#include <string>
#include <string_view>

#include "platform/store.h"

namespace tapsense::platform {

struct sensor_reply {
  unsigned status = 200;
  std::string content_type;  // application/x-capnp-packed, or text/plain for errors
  std::string body;
};

// path: /sensor/v1/register, /sensor/v1/checkin or /sensor/v1/reports.
sensor_reply handle_sensor(store& s, std::string_view path, const std::string& authorization, std::string_view body);

}  // namespace tapsense::platform
