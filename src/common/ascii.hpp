// ascii.hpp: ASCII-only case handling for protocol tokens (SMTP verbs and keywords, domain names,
// local parts matched case-insensitively). Bytes >= 0x80 (UTF-8) are compared as they are: no
// locale is ever consulted, so results never depend on the environment.
#pragma once

#include <string>
#include <string_view>

namespace sluice {

constexpr char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

inline std::string ascii_lower(std::string_view s) {
    std::string r(s);
    for (auto& c : r) c = ascii_lower(c);
    return r;
}

constexpr bool ascii_iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

}  // namespace sluice
