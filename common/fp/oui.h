#pragma once
// IEEE MAC address block registry: which organisation a MAC address was
// assigned to.
//
// Loaded from the CSV exports of the IEEE Registration Authority, as Debian's
// ieee-data package installs them in /usr/share/ieee-data:
//   oui.csv    MA-L  24-bit prefixes (the classic OUI)
//   mam.csv    MA-M  28-bit prefixes
//   oui36.csv  MA-S  36-bit prefixes
//   iab.csv    IAB   36-bit prefixes (closed registry, still in use)
// Each is RFC 4180 CSV with a header line:
//   Registry,Assignment,Organization Name,Organization Address
// Fields may be quoted, contain commas, "" escapes and line breaks.
//
// The MA-M, MA-S and IAB blocks lie inside MA-L blocks registered to "IEEE
// Registration Authority", so the longest matching prefix is the answer.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/net/addr.h"

namespace tapsense::fp {

// What load() found, per file and in total.
struct oui_load_stats {
  std::size_t ma_l = 0;        // entries kept from oui.csv
  std::size_t ma_m = 0;        // mam.csv
  std::size_t ma_s = 0;        // oui36.csv
  std::size_t iab = 0;         // iab.csv
  std::size_t malformed = 0;   // records skipped: not 4 fields, unknown registry,
                               // assignment not hex of the registry's length,
                               // empty name, unterminated quote
  std::size_t duplicates = 0;  // prefixes listed again (the first entry wins;
                               // oui.csv 2022 lists 080030 three times, 0001C8 twice)
};

// A registry organisation name as people write the brand ("TP-LINK
// TECHNOLOGIES CO.,LTD." -> "TP-Link", "Siemens AG," -> "Siemens"), and
// whether the organisation makes Wi-Fi/cellular modules or builds devices
// for other brands (Espressif, Murata, AzureWave, Hi-Flying, Realtek, USI,
// Quectel, Foxconn, Liteon, Texas Instruments...): its block then says who
// made the radio, and is only weak evidence of the brand on the box.
struct vendor_name {
  std::string brand;    // never empty for a non-blank registry name
  bool module = false;  // a module or ODM maker
};
// A table of well-known organisations first (case-insensitive prefix of the
// registry text), else the generic form: the text before the first comma,
// without trailing corporate suffixes (Inc, Ltd, GmbH, AG, Co, Corporation,
// Technologies, Networks, Systems...) or a leading Chinese city or province,
// ALL-CAPS words of 4+ letters capitalised. Allocates; meant for a MAC's
// first packet, not every packet.
vendor_name vendor_brand(std::string_view registry);

class oui_registry {
 public:
  // Reads oui.csv, mam.csv, oui36.csv and iab.csv from `dir`. All four are
  // required: throws std::runtime_error naming the file when one cannot be
  // read or yields no entry at all. Malformed records are skipped and counted
  // (stats().malformed). Takes about 30 ms for the ~46,500 records of
  // ieee-data 2022 (Release build).
  static oui_registry load(const std::string& dir);

  // Organisation name of the longest registered prefix covering `mac`
  // (36 bits, then 28, then 24), trimmed of surrounding blanks, as the IEEE
  // spells it ("Apple, Inc.", "VMware, Inc."; some blocks read "Private").
  // nullopt for multicast (I/G bit) and locally administered (U/L bit)
  // addresses, which no registry assigns, and for unregistered prefixes.
  // The view points into this registry and is valid for its lifetime.
  std::optional<std::string_view> vendor(const net::mac_address& mac) const noexcept;

  // Number of prefixes held, all lengths together.
  std::size_t size() const noexcept;
  const oui_load_stats& stats() const noexcept { return stats_; }

 private:
  struct name_ref {
    std::uint32_t offset;  // into names_
    std::uint32_t length;
  };
  using prefix_map = std::unordered_map<std::uint64_t, name_ref>;

  void load_file(const std::string& path, std::size_t& kept);
  std::string_view name(name_ref r) const noexcept { return {names_.data() + r.offset, r.length}; }

  std::string names_;  // every organisation name, back to back
  prefix_map by24_;    // key: top 24 bits of the MAC
  prefix_map by28_;    // top 28 bits
  prefix_map by36_;    // top 36 bits (MA-S and IAB)
  oui_load_stats stats_;
};

}  // namespace tapsense::fp
