// The OpenAPI 3 document of /api/v1: one table of operations, so the
// document lists exactly what router.cpp answers.
#include "platform/router.h"

namespace tapsense::platform {

namespace json = boost::json;

namespace {

struct op {
  const char* method;
  const char* path;
  const char* summary;
  const char* body;  // request body schema name or nullptr
  bool change;       // admin only
};

const op ops[] = {
    {"post", "/api/v1/login", "Log in: sets an HttpOnly, Secure, SameSite=Strict session cookie", "Login", false},
    {"post", "/api/v1/logout", "End the session", nullptr, false},
    {"get", "/api/v1/me", "The calling user and role", nullptr, false},
    {"get", "/api/v1/openapi.json", "This document", nullptr, false},
    {"get", "/api/v1/sensors", "Sensors with status, version, addresses, last check-in, CPU, RAM, disk, network "
                               "utilisation, active assets (1 hour), estimated maximum throughput, interfaces",
     nullptr, false},
    {"post", "/api/v1/sensors", "Create a sensor: returns its id and a 14-digit single-use personalization code",
     "NewSensor", true},
    {"get", "/api/v1/sensors/{id}", "One sensor", nullptr, false},
    {"delete", "/api/v1/sensors/{id}", "Delete an Unregistered or Deregistered sensor", nullptr, true},
    {"post", "/api/v1/sensors/{id}/code", "A new personalization code (Unregistered or Deregistered sensor)", nullptr,
     true},
    {"get", "/api/v1/sensors/{id}/commands", "Commands sent to the sensor, acknowledged or not", nullptr, false},
    {"post", "/api/v1/sensors/{id}/commands",
     "Queue start_sensing, pause, reboot, deregister or delete_assets", "Command", true},
    {"get", "/api/v1/sensors/{id}/interfaces", "Interface settings (DEFAULT or ERSPAN with an address)", nullptr,
     false},
    {"put", "/api/v1/sensors/{id}/interfaces", "Replace the interface settings", "Interfaces", true},
    {"get", "/api/v1/sensors/{id}/config", "The configuration revision, hash and TOML the sensor gets", nullptr,
     false},
    {"get", "/api/v1/sensors/{id}/events", "The sensor's events", nullptr, false},
    {"get", "/api/v1/config/internal", "Internal asset groups (ETag: revision)", nullptr, false},
    {"put", "/api/v1/config/internal", "Replace the internal asset groups (If-Match: revision)", "InternalGroups",
     true},
    {"get", "/api/v1/config/ip-range-tags", "IP-range tags", nullptr, false},
    {"put", "/api/v1/config/ip-range-tags", "Replace the IP-range tags", "IpRangeTags", true},
    {"get", "/api/v1/config/excluded", "Excluded assets", nullptr, false},
    {"put", "/api/v1/config/excluded", "Replace the excluded assets", "Excluded", true},
    {"get", "/api/v1/config/monitored", "Monitored external assets", nullptr, false},
    {"put", "/api/v1/config/monitored", "Replace the monitored external assets", "Monitored", true},
    {"get", "/api/v1/config/networks", "Networks (separate address spaces)", nullptr, false},
    {"put", "/api/v1/config/networks", "Replace the networks", "Networks", true},
    {"get", "/api/v1/config/general", "General settings", nullptr, false},
    {"put", "/api/v1/config/general", "Replace the general settings", "GeneralSettings", true},
    {"get", "/api/v1/assets", "Assets, one per device across sensors (filters: sensor, network, q; cursor, limit)",
     nullptr, false},
    {"get", "/api/v1/assets/{id}", "One asset with its raw discovery data (evidence) and traffic summary", nullptr,
     false},
    {"get", "/api/v1/events", "Events raised by sensors and derived by the platform (filter: sensor; cursor, limit)",
     nullptr, false},
    {"get", "/api/v1/subscriptions", "Platform and sensor subscriptions: end dates, active, grace (admins only)",
     nullptr, true},
    {"put", "/api/v1/subscriptions", "Set the end dates (YYYY-MM-DD or null); lapsed ones are applied after 30 days",
     "Subscriptions", true},
    {"get", "/api/v1/export/ocsf/inventory",
     "The inventory as OCSF Device Inventory Info (5001) JSON lines (cursor, limit; X-Next-Cursor)", nullptr, false},
    {"get", "/api/v1/export/ecs/flows", "Flow records as ECS 8.11 JSON lines (cursor, limit; X-Next-Cursor)", nullptr,
     false},
};

json::object schemas() {
  return json::parse(R"({
  "Problem": {"type": "object", "description": "RFC 9457 problem details",
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
      "detail": {"type": "string"}, "errors": {"type": "array", "items": {"type": "string"}}}},
  "Login": {"type": "object", "required": ["name", "password"],
    "properties": {"name": {"type": "string"}, "password": {"type": "string"}}},
  "Subscriptions": {"type": "object",
    "properties": {"platform": {"type": "object", "properties": {"end_date": {"type": ["string", "null"], "format": "date"}}},
      "sensor": {"type": "object", "properties": {"end_date": {"type": ["string", "null"], "format": "date"}}}}},
  "NewSensor": {"type": "object", "required": ["name"],
    "properties": {"name": {"type": "string"}, "location": {"type": "string"}}},
  "Command": {"type": "object", "required": ["command"], "properties": {"command": {"type": "string",
    "enum": ["start_sensing", "pause", "reboot", "deregister", "delete_assets"]}}},
  "Interfaces": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string"}, "mode": {"type": "string", "enum": ["default", "erspan"]},
    "erspan_address": {"type": "string"}}}},
  "InternalGroups": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string"}, "sensors": {"type": "array", "items": {"type": "integer"}},
    "inventory": {"type": "boolean"}, "default_ranges": {"type": "boolean"},
    "ip_range_tags": {"type": "array", "items": {"type": "string"}},
    "ranges": {"type": "array", "items": {"type": "string"}},
    "type": {"type": "string", "enum": ["dhcp", "static"]}, "network": {"type": "string"},
    "tags": {"type": "array", "items": {"type": "string"}}}}},
  "IpRangeTags": {"type": "array", "items": {"type": "object", "required": ["name", "ranges"], "properties": {
    "name": {"type": "string"}, "ranges": {"type": "array", "items": {"type": "string"}}}}},
  "Excluded": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string"}, "ranges": {"type": "array", "items": {"type": "string"}},
    "macs": {"type": "array", "items": {"type": "string"}}}}},
  "Monitored": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string"}, "addresses": {"type": "array", "items": {"type": "string"}},
    "domains": {"type": "array", "items": {"type": "string"}}}}},
  "Networks": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string"}, "interfaces": {"type": "array", "items": {"type": "string"}},
    "vlans": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 4095}}}}},
  "GeneralSettings": {"type": "object", "properties": {"fingerprint_data_consent": {"type": "boolean"},
    "email_recipients": {"type": "array", "items": {"type": "string"}},
    "hostname_exclusions": {"type": "array", "items": {"type": "string"}}}},
  "Asset": {"type": "object", "properties": {"id": {"type": "integer"}, "ip": {"type": "string"},
    "mac": {"type": "string"}, "hostname": {"type": "string"}, "vendor": {"type": "string"},
    "os": {"type": "string"}, "device_type": {"type": "string"}, "device_class": {"type": "string"},
    "model": {"type": "string"}, "network": {"type": "string"},
    "first_seen": {"type": "integer", "description": "ns since the epoch, packet time"},
    "last_seen": {"type": "integer"}, "sensors": {"type": "array", "items": {"type": "object",
      "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}}}}
})")
      .as_object();
}

}  // namespace

std::string openapi_json() {
  json::object doc;
  doc["openapi"] = "3.0.3";
  json::object info;
  info["title"] = "tapsense platform API";
  info["version"] = "1";
  info["description"] =
      "Users and the console. Every call but /api/v1/login needs a session cookie or Authorization: Bearer TOKEN "
      "(401); a viewer's change answers 403. Errors are RFC 9457 problem details. Sensors use /sensor/v1/* "
      "(common/schema/platform.capnp), not this API.";
  doc["info"] = info;
  json::object paths;
  for (const auto& o : ops) {
    json::value& pv = paths[o.path];
    if (!pv.is_object()) {
      pv = json::object();
    }
    json::object operation;
    operation["summary"] = o.summary;
    operation["operationId"] = std::string(o.method) + std::string(o.path);
    if (std::string(o.path).find("{id}") != std::string::npos) {
      operation["parameters"] = json::parse(
          R"([{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}])");
    }
    if (o.body != nullptr) {
      json::object rb;
      rb["required"] = true;
      rb["content"] = json::parse(std::string(R"({"application/json": {"schema": {"$ref": "#/components/schemas/)") +
                                  o.body + "\"}}}");
      operation["requestBody"] = rb;
    }
    json::object responses;
    responses["200"] = json::parse(R"({"description": "OK"})");
    responses["400"] = json::parse(
        R"({"description": "Invalid input", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})");
    if (std::string(o.path) != "/api/v1/login") {
      responses["401"] = json::parse(R"({"description": "No valid session or token"})");
    } else {
      operation["security"] = json::array();
    }
    if (o.change) {
      responses["403"] = json::parse(R"({"description": "A viewer cannot change anything"})");
    }
    operation["responses"] = responses;
    pv.as_object()[o.method] = operation;
  }
  doc["paths"] = paths;
  json::object comps;
  comps["schemas"] = schemas();
  comps["securitySchemes"] = json::parse(
      R"({"bearer": {"type": "http", "scheme": "bearer"}, "session": {"type": "apiKey", "in": "cookie", "name": "tapsense_session"}})");
  doc["components"] = comps;
  doc["security"] = json::parse(R"([{"bearer": []}, {"session": []}])");
  return json::serialize(doc) + "\n";
}

}  // namespace tapsense::platform
