// spf_record.cpp: see spf_record.hpp.
#include "trust/spf_record.hpp"

#include <arpa/inet.h>

#include "common/ascii.hpp"

namespace sluice::trust::spf {

namespace {

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
    return is_alpha(c) || is_digit(c);
}

constexpr auto iequals = ascii_iequals;

// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool valid_toplabel(std::string_view l) {
    if (l.empty()) return false;
    bool alpha = false;
    for (char c : l) {
        if (is_alpha(c))
            alpha = true;
        else if (!is_digit(c) && c != '-')
            return false;
    }
    if (l.find('-') == std::string_view::npos) return alpha;
    return is_alnum(l.front()) && is_alnum(l.back());
}

// A CIDR length: "0" or 1-9 followed by digits (no leading zeros), at most `max`.
std::optional<int> parse_cidr_length(std::string_view s, int max) {
    if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    int v = 0;
    for (char c : s) {
        if (!is_digit(c)) return std::nullopt;
        v = v * 10 + (c - '0');
    }
    if (v > max) return std::nullopt;
    return v;
}

// Splits "domain/24//64" into the domain part and its dual CIDR lengths (5.6). The domain-spec may
// itself contain '/' (a macro delimiter), so the lengths are taken from the end.
std::optional<std::string_view> split_dual_cidr(std::string_view s, Mechanism& m) {
    auto take_digits_from_end = [](std::string_view t) {
        std::size_t i = t.size();
        while (i > 0 && is_digit(t[i - 1])) --i;
        return i;
    };
    // "//n" at the end: the IPv6 length.
    std::size_t i = take_digits_from_end(s);
    if (i < s.size() && i >= 2 && s[i - 1] == '/' && s[i - 2] == '/') {
        auto v = parse_cidr_length(s.substr(i), 128);
        if (!v) return std::nullopt;
        m.cidr6 = *v;
        s = s.substr(0, i - 2);
        i = take_digits_from_end(s);
    }
    if (i < s.size() && i >= 1 && s[i - 1] == '/') {
        auto v = parse_cidr_length(s.substr(i), 32);
        if (!v) return std::nullopt;
        m.cidr4 = *v;
        s = s.substr(0, i - 1);
    }
    return s;
}

std::optional<Mechanism::Kind> kind_of(std::string_view name) {
    using K = Mechanism::Kind;
    static constexpr std::pair<std::string_view, K> kinds[] = {
        {"all", K::all}, {"include", K::include}, {"a", K::a},     {"mx", K::mx},
        {"ptr", K::ptr}, {"ip4", K::ip4},         {"ip6", K::ip6}, {"exists", K::exists}};
    for (const auto& [n, k] : kinds)
        if (iequals(name, n)) return k;
    return std::nullopt;
}

std::optional<ParseError> parse_mechanism(std::string_view term, Record& rec) {
    Mechanism m;
    m.text = std::string(term);
    switch (term.front()) {
        case '+':
            m.qualifier = Qualifier::pass;
            term.remove_prefix(1);
            break;
        case '-':
            m.qualifier = Qualifier::fail;
            term.remove_prefix(1);
            break;
        case '~':
            m.qualifier = Qualifier::softfail;
            term.remove_prefix(1);
            break;
        case '?':
            m.qualifier = Qualifier::neutral;
            term.remove_prefix(1);
            break;
        default:
            break;
    }
    std::size_t name_end = 0;
    while (name_end < term.size() && is_alnum(term[name_end])) ++name_end;
    const std::string_view name = term.substr(0, name_end);
    std::string_view rest = term.substr(name_end);
    auto kind = kind_of(name);
    if (!kind) return ParseError{"unknown mechanism '" + std::string(m.text) + "'"};
    m.kind = *kind;
    using K = Mechanism::Kind;
    auto bad = [&] { return ParseError{"invalid mechanism '" + m.text + "'"}; };
    switch (m.kind) {
        case K::all:
            if (!rest.empty()) return bad();
            break;
        case K::include:
        case K::exists:
            if (rest.size() < 2 || rest[0] != ':' || !valid_domain_spec(rest.substr(1)))
                return bad();
            m.domain_spec = std::string(rest.substr(1));
            break;
        case K::a:
        case K::mx: {
            auto domain = split_dual_cidr(rest, m);
            if (!domain) return bad();
            if (!domain->empty()) {
                if (domain->size() < 2 || (*domain)[0] != ':' ||
                    !valid_domain_spec(domain->substr(1)))
                    return bad();
                m.domain_spec = std::string(domain->substr(1));
            }
            break;
        }
        case K::ptr:
            if (!rest.empty()) {
                if (rest.size() < 2 || rest[0] != ':' || !valid_domain_spec(rest.substr(1)))
                    return bad();
                m.domain_spec = std::string(rest.substr(1));
            }
            break;
        case K::ip4:
        case K::ip6: {
            if (rest.size() < 2 || rest[0] != ':') return bad();
            rest.remove_prefix(1);
            const bool v4 = m.kind == K::ip4;
            int len = v4 ? 32 : 128;
            if (auto slash = rest.find('/'); slash != std::string_view::npos) {
                auto v = parse_cidr_length(rest.substr(slash + 1), len);
                if (!v) return bad();
                len = *v;
                rest = rest.substr(0, slash);
            }
            // Strict forms: inet_pton takes only a dotted quad for IPv4 and RFC 4291 text for IPv6.
            const std::string addr(rest);
            unsigned char buf[16] = {};
            if (inet_pton(v4 ? AF_INET : AF_INET6, addr.c_str(), buf) != 1) return bad();
            auto ip = IpAddress::parse(addr);
            if (!ip) return bad();
            if (v4)
                m.cidr4 = len;
            else
                m.cidr6 = len;
            m.network.network = *ip;
            m.network.prefix = v4 ? 96 + len : len;
            m.network.clear_host_bits();
            break;
        }
    }
    rec.mechanisms.push_back(std::move(m));
    return std::nullopt;
}

}  // namespace

std::string_view result_name(Result r) {
    switch (r) {
        case Result::none:
            return "none";
        case Result::neutral:
            return "neutral";
        case Result::pass:
            return "pass";
        case Result::fail:
            return "fail";
        case Result::softfail:
            return "softfail";
        case Result::temperror:
            return "temperror";
        case Result::permerror:
            return "permerror";
    }
    return "?";
}

std::string_view mechanism_name(Mechanism::Kind k) {
    using K = Mechanism::Kind;
    switch (k) {
        case K::all:
            return "all";
        case K::include:
            return "include";
        case K::a:
            return "a";
        case K::mx:
            return "mx";
        case K::ptr:
            return "ptr";
        case K::ip4:
            return "ip4";
        case K::ip6:
            return "ip6";
        case K::exists:
            return "exists";
    }
    return "?";
}

bool is_spf_record(std::string_view txt) {
    constexpr std::string_view v = "v=spf1";
    if (txt.size() < v.size() || !iequals(txt.substr(0, v.size()), v)) return false;
    return txt.size() == v.size() || txt[v.size()] == ' ';
}

bool valid_macro_string(std::string_view s, bool explain) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == ' ' && explain) continue;
        if (c != '%') {
            if (c < 0x21 || c > 0x7e) return false;
            continue;
        }
        if (++i >= s.size()) return false;
        if (s[i] == '%' || s[i] == '_' || s[i] == '-') continue;
        if (s[i] != '{' || ++i >= s.size()) return false;
        const char letter = ascii_lower(s[i]);
        if (std::string_view("slodiphv").find(letter) == std::string_view::npos &&
            !(explain && std::string_view("crt").find(letter) != std::string_view::npos))
            return false;
        ++i;
        while (i < s.size() && is_digit(s[i])) ++i;
        if (i < s.size() && ascii_lower(s[i]) == 'r') ++i;
        while (i < s.size() && std::string_view(".-+,/_=").find(s[i]) != std::string_view::npos)
            ++i;
        if (i >= s.size() || s[i] != '}') return false;
    }
    return true;
}

bool valid_domain_spec(std::string_view s) {
    if (s.empty() || !valid_macro_string(s)) return false;
    if (s.back() == '}') {
        // Ends with a macro-expand, unless that '}' is a literal in "...%%}".
        const auto open = s.rfind("%{");
        if (open != std::string_view::npos && s.find('}', open) == s.size() - 1) return true;
    }
    std::string_view t = s;
    if (t.back() == '.') t.remove_suffix(1);
    const auto dot = t.rfind('.');
    if (dot == std::string_view::npos) return false;
    return valid_toplabel(t.substr(dot + 1));
}

std::variant<Record, ParseError> parse_record(std::string_view txt) {
    Record rec;
    for (char c : txt)
        if (static_cast<unsigned char>(c) > 0x7e || (static_cast<unsigned char>(c) < 0x20))
            return ParseError{"record is not 7-bit printable ASCII"};
    std::string_view rest = txt.substr(6);  // after "v=spf1"
    while (!rest.empty()) {
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        if (rest.empty()) break;
        const auto end = rest.find(' ');
        const std::string_view term = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);

        // A modifier is name "=" macro-string, name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
        std::size_t n = 0;
        if (is_alpha(term[0])) {
            n = 1;
            while (n < term.size() &&
                   (is_alnum(term[n]) || term[n] == '-' || term[n] == '_' || term[n] == '.'))
                ++n;
        }
        if (n > 0 && n < term.size() && term[n] == '=') {
            const std::string_view name = term.substr(0, n);
            const std::string_view value = term.substr(n + 1);
            if (iequals(name, "redirect") || iequals(name, "exp")) {
                auto& slot = iequals(name, "redirect") ? rec.redirect : rec.exp;
                if (slot) return ParseError{"duplicate " + std::string(name) + " modifier"};
                if (!valid_domain_spec(value))
                    return ParseError{"invalid " + std::string(name) + " domain"};
                slot = std::string(value);
            } else if (!valid_macro_string(value)) {
                // Unknown modifiers are ignored (6), but must still be well formed.
                return ParseError{"invalid modifier '" + std::string(term) + "'"};
            }
            continue;
        }
        if (auto err = parse_mechanism(term, rec)) return *err;
    }
    return rec;
}

}  // namespace sluice::trust::spf
