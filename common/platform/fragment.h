#pragma once
// The configuration the platform pushes: a TOML fragment holding the
// sensor configuration's own sections ([[internal]], [[excluded]],
// [[monitored]], [[network]] and [[capture.interface]] name/mode/
// erspan_address). It replaces those sections of the local file; every
// other setting stays the local file's. The sensor keeps the fragment of
// the applied revision in <state_dir>/platform/config.toml and merges it at
// every start, so the local file itself is never rewritten.
//
// [[capture.interface]]: when the fragment lists interfaces, they become
// the sniffing set, each keeping the local driver and rx_queues of the
// interface of the same name; a fragment without any keeps the local set.
#include <stdexcept>
#include <string>

#include "common/config/config.h"

namespace tapsense::platform_client {

struct fragment_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The local configuration text with the fragment's sections; throws
// fragment_error when the fragment is not TOML or holds other settings.
std::string merge_fragment(const std::string& local_text, const std::string& local_name,
                           const std::string& fragment);

// Merges and validates with the configuration parser (throws config_error
// or fragment_error, whose message says why).
config::config apply_fragment(const std::string& local_text, const std::string& local_name,
                              const std::string& fragment, const std::string& fragment_name);

// The local file (or the defaults when path is empty) with the applied
// fragment of <state_dir>/platform/config.toml if there is one. The
// state_dir is the local file's.
config::config load_with_fragment(const std::string& path);

}  // namespace tapsense::platform_client
