// header_from.cpp: see header_from.hpp.
#include "smtp/header_from.hpp"

#include "common/ascii.hpp"

#include <algorithm>

namespace sluice::smtp {
namespace {

bool is_wsp(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
    return s;
}

// local@domain with no spaces, controls, brackets or further '@' in the domain.
bool plausible_addr_spec(std::string_view a) {
    const auto at = a.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == a.size()) return false;
    return std::none_of(a.begin(), a.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '<' || c == '>' ||
               c == ',' || c == ';';
    });
}

}  // namespace

std::optional<std::string> from_header_address(std::string_view message) {
    std::string from;         // the unfolded From: field body
    bool seen = false;        // a From: field was found
    bool continuing = false;  // the current field is From: (its folded lines belong to it)
    std::size_t pos = 0;
    while (pos < message.size()) {
        std::size_t end = message.find('\n', pos);
        if (end == std::string_view::npos) end = message.size();
        std::string_view line = message.substr(pos, end - pos);
        pos = end + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;                            // end of the header section
        if (line.front() == ' ' || line.front() == '\t') {  // folded continuation
            if (continuing) from.append(line);
            continue;
        }
        const auto colon = line.find(':');
        continuing =
            colon != std::string_view::npos && ascii_iequals(trim(line.substr(0, colon)), "From");
        if (!continuing) continue;
        if (seen) return std::nullopt;  // RFC 5322 3.6: exactly one From:
        seen = true;
        from.assign(line.substr(colon + 1));
    }
    if (!seen) return std::nullopt;
    std::string_view v = trim(from);
    if (const auto lt = v.rfind('<'); lt != std::string_view::npos) {
        const auto gt = v.find('>', lt);
        if (gt == std::string_view::npos || !trim(v.substr(gt + 1)).empty()) return std::nullopt;
        if (v.find('<') != lt) return std::nullopt;  // "a <x@y>, b <z@w>": a list
        v = trim(v.substr(lt + 1, gt - lt - 1));
    }
    if (!plausible_addr_spec(v)) return std::nullopt;
    return std::string(v);
}

}  // namespace sluice::smtp
