// show.hpp: the effective configuration as TOML (`sluice config show`, like `postconf`): every
// key with the value the server will use, defaults filled in, secrets masked.
//
// The output is itself a valid configuration: loading it gives the same Config (secrets aside),
// which the unit tests check, so what an operator copies from it means what it says.
//
// SECURITY: password hashes and relay passwords are printed as kMasked, never in clear.
#pragma once

#include <string>
#include <string_view>

#include "config/config.hpp"

namespace sluice::config {

inline constexpr std::string_view kMasked = "(secret)";

[[nodiscard]] std::string show(const Config& cfg);

// "5m", "4h", "250ms": the largest unit that states the duration exactly.
[[nodiscard]] std::string format_duration(Duration d);

// "25M", "512K", "1000": the largest binary unit that states the size exactly.
[[nodiscard]] std::string format_size(std::size_t bytes);

}  // namespace sluice::config
