#pragma once
// The vocabulary of facts: every source (the protocol or table that states
// a fact) and every field (what it states) a fact may have, named once.
//
// A fact carries its source and field as small integers (proto::source_name,
// proto::field_name) from the parser that states it, through the
// fingerprinter and its Cap'n Proto batches (report.capnp Observation), to
// the uplink's model: nothing between a parser and an output compares or
// copies their text. The text appears only where people or files read it:
// rule files (checked against these tables when loaded), the SQLite journal
// (stable across versions: names are never renamed or removed, only added),
// and the output files.
//
// Both tables are in byte order, so comparing two names' indices compares
// their text (SQLite's BINARY order): maps keyed by them iterate as the
// journal's primary keys sort. A name given as a string literal is checked at
// compile time: a parser cannot state a field this table does not know.
//
// Source "rule" is the one open source: a fact a rule derived is
// "rule:<id>", with the rule's id carried beside the source.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

// Clang before 16 miscompiles an immediate (consteval) call in a
// full-expression that also destroys temporaries (a name built from a
// literal beside a std::string argument frees a bad pointer: found by the
// fuzzers, which clang builds). There the literal constructor is constexpr;
// GCC, which builds the sensor, still checks every literal at compile time.
#if defined(__clang__) && __clang_major__ < 16
#define TAPSENSE_NAME_CONSTEVAL constexpr
#else
#define TAPSENSE_NAME_CONSTEVAL consteval
#endif

namespace tapsense::proto {

inline constexpr std::string_view source_names[] = {
    "",  // none
    "bacnet", "browser", "cdp", "dhcp", "dhcpv6", "dnp3", "dns", "enip",
    "http", "lldp", "llmnr", "mdns", "modbus", "nbdgm", "nbns", "nbss",
    "ntlmssp", "oui", "p0f", "profinet", "rule", "s7comm", "smb", "snmp",
    "ssdp", "ssh", "tapsense", "tls", "upnp", "wsd",
};

inline constexpr std::string_view field_names[] = {
    "",  // none
    "address",
    "advertised_ip",
    "alias_name",
    "alpn",
    "app",
    "application_name",
    "asset_id",
    "banner",
    "browser_comment",
    "browser_config_version",
    "browser_server_type",
    "capabilities",
    "capabilities_enabled",
    "cert_issuer_cn",
    "cert_issuer_o",
    "cert_san",
    "cert_subject_cn",
    "cert_subject_o",
    "cert_subject_ou",
    "chassis_id",
    "cip_device_type",
    "copyright",
    "description",
    "device_id",
    "device_instance",
    "device_name",
    "device_role",
    "device_type",
    "device_type_id",
    "dns_domain",
    "dns_forest",
    "dns_hostname",
    "dns_name",
    "dns_name_ttl",
    "dns_query",
    "domain",
    "duid",
    "engine_id",
    "enterprise",
    "enterprise_number",
    "firmware",
    "fqdn",
    "friendly_name",
    "hardware_revision",
    "hardware_version",
    "hassh",
    "hassh_server",
    "hassh_server_string",
    "hassh_string",
    "hostname",
    "http_host",
    "http_realm",
    "instance_name",
    "ip",
    "ja3",
    "ja3_string",
    "ja3s",
    "ja3s_string",
    "ja4",
    "ja4s",
    "llmnr_query",
    "location",
    "mac",
    "management_address",
    "mdns_query",
    "mdns_service",
    "memory_card_serial",
    "model",
    "model_description",
    "model_number",
    "module_name",
    "module_vendor",
    "mud_url",
    "nat",
    "native_lanman",
    "native_os",
    "native_vlan",
    "nbns_name",
    "nbns_query",
    "netbios_mac",
    "netbios_name",
    "ntlm_domain",
    "ntlm_target",
    "ntlm_user",
    "ntlm_version",
    "onvif_name",
    "onvif_type",
    "option_request_list",
    "order_number",
    "os",
    "os_family",
    "os_hint",
    "os_name",
    "os_version",
    "osxvers",
    "parameter_request_list",
    "plant_id",
    "platform",
    "plc_name",
    "port_description",
    "port_id",
    "port_vlan",
    "product_code",
    "protocol",
    "queried_station_name",
    "raw_sig",
    "requested_ip",
    "revision",
    "role",
    "routed_from",
    "scopes",
    "serial",
    "server",
    "server_duid",
    "server_id",
    "smb_account",
    "smb_client_guid",
    "smb_dialect",
    "smb_dialects",
    "smb_primary_domain",
    "smb_server_guid",
    "sni",
    "snmp_version",
    "software",
    "software_revision",
    "software_version",
    "srv_hostname",
    "ssdp_search",
    "ssdp_type",
    "station_name",
    "sys_object_id",
    "system_description",
    "system_name",
    "txt",
    "txt:am",
    "txt:device",
    "txt:deviceid",
    "txt:devicetype",
    "txt:firmware",
    "txt:fn",
    "txt:fv",
    "txt:hw",
    "txt:machine",
    "txt:manufacturer",
    "txt:md",
    "txt:mdl",
    "txt:mfg",
    "txt:name",
    "txt:os",
    "txt:osver",
    "txt:product",
    "txt:rpMd",
    "txt:rpVr",
    "txt:serialNumber",
    "txt:srcvers",
    "txt:sw",
    "txt:ty",
    "txt:usb_MDL",
    "txt:usb_MFG",
    "txt:ve",
    "txt:vendor",
    "txt:version",
    "txt:vs",
    "types",
    "upnp_device_type",
    "upnp_uuid",
    "user_agent",
    "user_class",
    "usn",
    "vendor",
    "vendor_class",
    "vendor_id",
    "vendor_url",
    "vtp_domain",
    "windows_version",
    "workgroup",
    "wsd_search",
    "x_powered_by",
    "xaddrs",
};

namespace detail {
consteval bool strictly_ascending(std::span<const std::string_view> t) {
  for (std::size_t i = 1; i < t.size(); ++i) {
    if (!(t[i - 1] < t[i])) return false;
  }
  return true;
}
// A hash of a table: batches carry it, so a reader built with another
// vocabulary refuses them instead of misreading the indices.
consteval std::uint64_t table_hash(std::span<const std::string_view> t, std::uint64_t h) {
  for (auto s : t) {
    for (char c : s) h = (h ^ static_cast<std::uint8_t>(c)) * 0x100000001b3ULL;
    h = (h ^ 0xffU) * 0x100000001b3ULL;
  }
  return h;
}
}  // namespace detail
static_assert(detail::strictly_ascending(source_names), "source_names must be in byte order, no repeats");
static_assert(detail::strictly_ascending(field_names), "field_names must be in byte order, no repeats");
static_assert(std::size(source_names) <= 0xffff && std::size(field_names) <= 0xffff);
// "rule:<id>" sorts as "rule" then the id only if no other source starts
// with "rule".
static_assert(std::count_if(std::begin(source_names), std::end(source_names),
                            [](std::string_view s) { return s.starts_with("rule"); }) == 1);

inline constexpr std::uint64_t vocabulary_hash =
    detail::table_hash(field_names, detail::table_hash(source_names, 0xcbf29ce484222325ULL));

// One name of a table: its index, 0 for none. Built from a string literal at
// compile time (an unknown name does not compile), from text at run time
// with find() (rule files, the journal), or from an index (a batch).
template <const auto& Table>
class vocab_name {
 public:
  constexpr vocab_name() noexcept = default;
  template <std::size_t N>
  TAPSENSE_NAME_CONSTEVAL vocab_name(const char (&s)[N]) : id_(index_of(std::string_view(s, N - 1))) {}  // NOLINT

  static constexpr std::size_t count() noexcept { return std::size(Table); }
  // The name with this text, if the table has it.
  static constexpr std::optional<vocab_name> find(std::string_view s) noexcept {
    const auto* b = std::begin(Table);
    const auto* e = std::end(Table);
    const auto* it = std::lower_bound(b, e, s);
    if (it == e || *it != s || it == b) return std::nullopt;
    return from_id(static_cast<std::uint16_t>(it - b));
  }
  // The name at this index, if there is one.
  static constexpr std::optional<vocab_name> from_index(std::uint32_t i) noexcept {
    if (i >= count()) return std::nullopt;
    return from_id(static_cast<std::uint16_t>(i));
  }

  constexpr std::uint16_t id() const noexcept { return id_; }
  constexpr std::string_view str() const noexcept { return Table[id_]; }
  constexpr operator std::string_view() const noexcept { return str(); }  // NOLINT(google-explicit-constructor)
  constexpr bool empty() const noexcept { return id_ == 0; }

  friend constexpr bool operator==(vocab_name a, vocab_name b) noexcept { return a.id_ == b.id_; }
  friend constexpr auto operator<=>(vocab_name a, vocab_name b) noexcept { return a.id_ <=> b.id_; }
  // Against text held in a string (rule files, tests): the name's text. A
  // string literal converts to a name instead (checked at compile time, and
  // compared as an index).
  template <class S>
    requires(std::is_same_v<S, std::string_view> || std::is_same_v<S, std::string>)
  friend constexpr bool operator==(vocab_name a, const S& s) noexcept {
    return a.str() == std::string_view(s);
  }
  friend std::ostream& operator<<(std::ostream& os, vocab_name n) { return os << n.str(); }

 private:
  static constexpr vocab_name from_id(std::uint16_t i) noexcept {
    vocab_name n;
    n.id_ = i;
    return n;
  }
  static TAPSENSE_NAME_CONSTEVAL std::uint16_t index_of(std::string_view s) {
    for (std::size_t i = 1; i < std::size(Table); ++i) {
      if (Table[i] == s) return static_cast<std::uint16_t>(i);
    }
    throw "not in the vocabulary (common/proto/names.h)";  // a compile-time error
  }
  std::uint16_t id_ = 0;
};

using source_name = vocab_name<source_names>;
using field_name = vocab_name<field_names>;

}  // namespace tapsense::proto
