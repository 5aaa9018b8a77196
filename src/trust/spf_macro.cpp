// spf_macro.cpp: see spf_macro.hpp.
#include "trust/spf_macro.hpp"

#include <algorithm>
#include <vector>

#include "common/ascii.hpp"

namespace sluice::trust::spf {

namespace {

constexpr std::string_view kDelimiters = ".-+,/_=";
constexpr std::size_t kMaxExpansion = 2048;

bool unreserved(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

// Upper-case macro letters URL-escape their value (7.3, RFC 3986 unreserved kept).
std::string url_escape(std::string_view v) {
    constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (unreserved(c)) {
            out += c;
            continue;
        }
        const auto b = static_cast<unsigned char>(c);
        out += '%';
        out += hex[b >> 4];
        out += hex[b & 15];
    }
    return out;
}

// Splits on any of `delims`, optionally reverses, keeps the rightmost `keep` parts (0: all),
// joins with '.' (7.3).
std::string transform(std::string_view value, std::string_view delims, bool reverse,
                      std::size_t keep) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= value.size(); ++i) {
        if (i == value.size() || delims.find(value[i]) != std::string_view::npos) {
            parts.push_back(value.substr(start, i - start));
            start = i + 1;
        }
    }
    if (reverse) std::reverse(parts.begin(), parts.end());
    std::size_t first = keep != 0 && keep < parts.size() ? parts.size() - keep : 0;
    std::string out;
    for (std::size_t i = first; i < parts.size(); ++i) {
        if (i != first) out += '.';
        out += parts[i];
    }
    return out;
}

}  // namespace

std::string dotted_ip(const IpAddress& ip) {
    if (ip.is_v4()) return ip.to_string();
    std::string out;
    constexpr char hex[] = "0123456789abcdef";
    for (std::uint8_t b : ip.bytes) {
        if (!out.empty()) out += '.';
        out += hex[b >> 4];
        out += '.';
        out += hex[b & 15];
    }
    return out;
}

std::string reverse_name(const IpAddress& ip) {
    return transform(dotted_ip(ip), ".", true, 0) + (ip.is_v4() ? ".in-addr.arpa" : ".ip6.arpa");
}

bool uses_ptr_macro(std::string_view s) {
    for (std::size_t i = 0; i + 2 < s.size(); ++i) {
        if (s[i] != '%') continue;
        if (s[i + 1] == '{' && ascii_lower(s[i + 2]) == 'p') return true;
        ++i;  // "%%", "%_", "%-": skip the escaped character
    }
    return false;
}

std::string truncate_domain(std::string name) {
    bool trailing_dot = !name.empty() && name.back() == '.';
    if (trailing_dot) name.pop_back();
    while (name.size() > 253) {
        const auto dot = name.find('.');
        if (dot == std::string::npos) return {};
        name.erase(0, dot + 1);
    }
    return name;
}

std::optional<std::string> expand(std::string_view s, const MacroContext& ctx, bool explain) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c != '%') {
            if (c == ' ' && !explain) return std::nullopt;
            if ((c < 0x21 || c > 0x7e) && c != ' ') return std::nullopt;
            out += c;
            continue;
        }
        if (++i >= s.size()) return std::nullopt;
        switch (s[i]) {
            case '%':
                out += '%';
                continue;
            case '_':
                out += ' ';
                continue;
            case '-':
                out += "%20";
                continue;
            case '{':
                break;
            default:
                return std::nullopt;
        }
        if (++i >= s.size()) return std::nullopt;
        const char letter = s[i];
        const bool escape = letter >= 'A' && letter <= 'Z';
        std::string value;
        switch (ascii_lower(letter)) {
            case 's':
                value = ctx.sender;
                break;
            case 'l':
                value = ctx.local_part;
                break;
            case 'o':
                value = ctx.sender_domain;
                break;
            case 'd':
                value = ctx.domain;
                break;
            case 'i':
                value = dotted_ip(ctx.ip);
                break;
            case 'p':
                value = ctx.ptr_name;
                break;
            case 'v':
                value = ctx.ip.is_v4() ? "in-addr" : "ip6";
                break;
            case 'h':
                value = ctx.helo;
                break;
            case 'c':
                if (!explain) return std::nullopt;
                value = ctx.ip.to_string();
                break;
            case 'r':
                if (!explain) return std::nullopt;
                value = ctx.receiver.empty() ? std::string_view("unknown") : ctx.receiver;
                break;
            case 't':
                if (!explain) return std::nullopt;
                value = std::to_string(ctx.now);
                break;
            default:
                return std::nullopt;
        }
        ++i;
        std::size_t keep = 0;
        bool digits = false;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            digits = true;
            keep = std::min<std::size_t>(keep * 10 + static_cast<std::size_t>(s[i] - '0'), 1000);
            ++i;
        }
        if (digits && keep == 0) return std::nullopt;  // "%{d0}": no parts is not a name
        bool reverse = false;
        if (i < s.size() && ascii_lower(s[i]) == 'r') {
            reverse = true;
            ++i;
        }
        const std::size_t delim_start = i;
        while (i < s.size() && kDelimiters.find(s[i]) != std::string_view::npos) ++i;
        if (i >= s.size() || s[i] != '}') return std::nullopt;
        std::string_view delims = s.substr(delim_start, i - delim_start);
        if (delims.empty()) delims = ".";
        if (keep != 0 || reverse || delims != ".") value = transform(value, delims, reverse, keep);
        out += escape ? url_escape(value) : value;
        // Bounded work per string whatever a record repeats: no legitimate expansion comes near
        // (a domain name is at most 253 octets).
        if (out.size() > kMaxExpansion) return std::nullopt;
    }
    return out;
}

}  // namespace sluice::trust::spf
