// address.cpp: RFC 5321 reverse-path / forward-path parser (a small recursive-descent parser).
//
// SECURITY: input is the untrusted argument of MAIL FROM / RCPT TO. Every byte is checked against
// the grammar; non-ASCII is accepted only as well-formed UTF-8 (RFC 3629: no overlongs, surrogates
// or code points above U+10FFFF). Lengths are checked only once the syntax is known to be valid, so
// the error reported is the most specific one. Runs in time linear in the input.
// STANDARDS: RFC 5321 4.1.2, 4.1.3, 4.5.3.1.1-3; RFC 6531 3.3; RFC 3629 4.
#include "smtp/address.hpp"

#include "common/ascii.hpp"

#include <cstddef>

namespace sluice::smtp {
namespace {

constexpr std::size_t max_local_part = 64;  // RFC 5321 4.5.3.1.1
constexpr std::size_t max_domain = 255;     // RFC 5321 4.5.3.1.2
constexpr std::size_t max_path = 256;       // RFC 5321 4.5.3.1.3, including "<" and ">"

bool is_alpha(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}
bool is_let_dig(unsigned char c) {
    return is_alpha(c) || is_digit(c);
}
bool is_hex(unsigned char c) {
    return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

// RFC 5322 atext, ASCII part.
bool is_atext(unsigned char c) {
    constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
    return is_let_dig(c) || (c != 0 && specials.find(static_cast<char>(c)) != specials.npos);
}

// Snum "." Snum "." Snum "." Snum, Snum = 1*3DIGIT with a value 0..255 (RFC 5321 4.1.3).
bool valid_ipv4(std::string_view s) {
    std::size_t i = 0;
    for (int part = 0; part < 4; ++part) {
        if (part > 0) {
            if (i >= s.size() || s[i] != '.') return false;
            ++i;
        }
        std::size_t start = i;
        int value = 0;
        while (i < s.size() && i - start < 3 && is_digit(static_cast<unsigned char>(s[i]))) {
            value = value * 10 + (s[i] - '0');
            ++i;
        }
        if (i == start || value > 255) return false;
    }
    return i == s.size();
}

// Counts the 16-bit groups of one side of "::" (or of a whole uncompressed address); -1 when
// malformed. When v4_tail, the last item may be a dotted IPv4 address, which counts as two groups.
int ipv6_groups(std::string_view s, bool v4_tail) {
    if (s.empty()) return 0;
    int n = 0;
    while (true) {
        std::size_t colon = s.find(':');
        std::string_view item = s.substr(0, colon);
        if (colon == std::string_view::npos && v4_tail &&
            item.find('.') != std::string_view::npos) {
            return valid_ipv4(item) ? n + 2 : -1;
        }
        if (item.empty() || item.size() > 4) return -1;
        for (char c : item) {
            if (!is_hex(static_cast<unsigned char>(c))) return -1;
        }
        ++n;
        if (colon == std::string_view::npos) return n;
        s.remove_prefix(colon + 1);
    }
}

// IPv6-full / IPv6-comp / IPv6v4-full / IPv6v4-comp (RFC 5321 4.1.3). "::" must stand for at least
// two zero groups, so at most 6 groups may appear beside it.
bool valid_ipv6(std::string_view s) {
    std::size_t dc = s.find("::");
    if (dc == std::string_view::npos) return ipv6_groups(s, true) == 8;
    if (s.find("::", dc + 1) != std::string_view::npos) return false;
    int left = ipv6_groups(s.substr(0, dc), false);
    int right = ipv6_groups(s.substr(dc + 2), true);
    return left >= 0 && right >= 0 && left + right <= 6;
}

// Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig
bool valid_ldh_str(std::string_view s) {
    if (s.empty() || !is_let_dig(static_cast<unsigned char>(s.back()))) return false;
    for (char c : s) {
        if (!is_let_dig(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    return true;
}

// General-address-literal = Standardized-tag ":" 1*dcontent; dcontent = %d33-90 / %d94-126.
bool valid_general_literal(std::string_view tag, std::string_view content) {
    if (!valid_ldh_str(tag) || content.empty()) return false;
    for (char ch : content) {
        unsigned char c = static_cast<unsigned char>(ch);
        if (c < 33 || c > 126 || (c >= 91 && c <= 93)) return false;
    }
    return true;
}

class Parser {
  public:
    explicit Parser(std::string_view s) : s_(s) {}

    std::size_t pos() const { return i_; }
    AddressError error() const { return error_; }
    bool at(char c) const { return i_ < s_.size() && s_[i_] == c; }
    bool consume(char c) {
        if (!at(c)) return false;
        ++i_;
        return true;
    }
    bool expect(char c) { return consume(c) || fail(AddressError::syntax); }

    // Dot-string / Quoted-string. Sets non_ascii when UTF-8 was seen.
    bool local_part(bool& non_ascii) {
        if (consume('"')) return quoted_string(non_ascii);
        do {
            if (!atom(non_ascii)) return false;
        } while (consume('.'));
        return true;
    }

    // sub-domain *("." sub-domain); U-labels are accepted as UTF-8 (RFC 6531 3.3).
    bool domain(bool& non_ascii) {
        do {
            if (!sub_domain(non_ascii)) return false;
        } while (consume('.'));
        return true;
    }

    // "[" ( IPv4 / "IPv6:" IPv6 / tag ":" dcontent ) "]"
    bool address_literal() {
        if (!expect('[')) return false;
        std::size_t close = s_.find(']', i_);
        if (close == std::string_view::npos) return fail(AddressError::syntax);
        std::string_view inner = s_.substr(i_, close - i_);
        i_ = close + 1;
        std::size_t colon = inner.find(':');
        bool ok;
        if (colon == std::string_view::npos) {
            ok = valid_ipv4(inner);
        } else if (ascii_iequals(inner.substr(0, colon), "IPv6")) {
            ok = valid_ipv6(inner.substr(colon + 1));
        } else {
            ok = valid_general_literal(inner.substr(0, colon), inner.substr(colon + 1));
        }
        return ok || fail(AddressError::syntax);
    }

  private:
    bool fail(AddressError e) {
        if (error_ == AddressError::none) error_ = e;
        return false;
    }

    // Consumes one well-formed UTF-8 sequence at a byte >= 0x80.
    bool utf8_char(bool& non_ascii) {
        std::size_t n = utf8_sequence_length(s_.substr(i_));
        if (n == 0) return fail(AddressError::bad_utf8);
        i_ += n;
        non_ascii = true;
        return true;
    }

    bool atom(bool& non_ascii) {
        std::size_t start = i_;
        while (i_ < s_.size()) {
            unsigned char c = static_cast<unsigned char>(s_[i_]);
            if (is_atext(c)) {
                ++i_;
            } else if (c >= 0x80) {
                if (!utf8_char(non_ascii)) return false;
            } else {
                break;
            }
        }
        return i_ > start || fail(AddressError::syntax);
    }

    // After the opening DQUOTE: *( qtextSMTP / quoted-pairSMTP ) DQUOTE
    bool quoted_string(bool& non_ascii) {
        while (i_ < s_.size()) {
            unsigned char c = static_cast<unsigned char>(s_[i_]);
            if (c == '"') {
                ++i_;
                return true;
            }
            if (c == '\\') {
                if (i_ + 1 >= s_.size()) break;
                unsigned char q = static_cast<unsigned char>(s_[i_ + 1]);
                if (q < 32 || q > 126) return fail(AddressError::syntax);
                i_ += 2;
            } else if (c >= 32 && c <= 126) {
                ++i_;
            } else if (c >= 0x80) {
                if (!utf8_char(non_ascii)) return false;
            } else {
                return fail(AddressError::syntax);
            }
        }
        return fail(AddressError::syntax);  // no closing quote
    }

    // Let-dig [Ldh-str]: letters, digits and inner hyphens.
    bool sub_domain(bool& non_ascii) {
        std::size_t start = i_;
        bool last_hyphen = false;
        while (i_ < s_.size()) {
            unsigned char c = static_cast<unsigned char>(s_[i_]);
            if (is_let_dig(c)) {
                ++i_;
                last_hyphen = false;
            } else if (c == '-') {
                if (i_ == start) return fail(AddressError::syntax);
                ++i_;
                last_hyphen = true;
            } else if (c >= 0x80) {
                if (!utf8_char(non_ascii)) return false;
                last_hyphen = false;
            } else {
                break;
            }
        }
        return (i_ > start && !last_hyphen) || fail(AddressError::syntax);
    }

    std::string_view s_;
    std::size_t i_ = 0;
    AddressError error_ = AddressError::none;
};

PathResult failure(AddressError e) {
    PathResult r;
    r.error = e;
    return r;
}

}  // namespace

std::size_t utf8_sequence_length(std::string_view s) {
    const auto byte = [&](std::size_t k) -> unsigned {
        return k < s.size() ? static_cast<unsigned char>(s[k]) : 0u;
    };
    const auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
        unsigned b = byte(k);
        return b >= lo && b <= hi;
    };
    unsigned c = byte(0);
    if (s.empty()) return 0;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;        // no overlongs
    if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;  // no surrogates
    if (c >= 0xE1 && c <= 0xEF) return cont(1) && cont(2) ? 3 : 0;
    if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;  // no overlongs
    if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;  // <= U+10FFFF
    return 0;
}

bool valid_utf8(std::string_view s) {
    while (!s.empty()) {
        std::size_t n = utf8_sequence_length(s);
        if (n == 0) return false;
        s.remove_prefix(n);
    }
    return true;
}

PathResult parse_path(std::string_view in, bool allow_null, bool allow_postmaster) {
    if (in.empty() || in[0] != '<') return failure(AddressError::syntax);

    if (in.size() >= 2 && in[1] == '>') {
        if (!allow_null) return failure(AddressError::syntax);
        PathResult r;
        r.path = Path{.null = true, .mailbox = {}};
        r.rest = in.substr(2);
        return r;
    }

    constexpr std::string_view postmaster = "<postmaster>";
    if (allow_postmaster && in.size() >= postmaster.size() &&
        ascii_iequals(in.substr(0, postmaster.size()), postmaster)) {
        PathResult r;
        r.path = Path{};
        r.path->mailbox.local = "postmaster";
        r.rest = in.substr(postmaster.size());
        return r;
    }

    Parser p(in);
    p.expect('<');
    bool ignored = false;
    bool non_ascii = false;

    // A-d-l ":" (source route): parsed for syntax, then dropped (RFC 5321 appendix C).
    if (p.at('@')) {
        do {
            if (!p.expect('@') || !p.domain(ignored)) return failure(p.error());
        } while (p.consume(','));
        if (!p.expect(':')) return failure(p.error());
    }

    std::size_t local_start = p.pos();
    if (!p.local_part(non_ascii)) return failure(p.error());
    std::string_view local = in.substr(local_start, p.pos() - local_start);
    if (!p.expect('@')) return failure(p.error());

    std::size_t domain_start = p.pos();
    bool literal = p.at('[');
    if (literal ? !p.address_literal() : !p.domain(non_ascii)) return failure(p.error());
    std::string_view domain = in.substr(domain_start, p.pos() - domain_start);
    if (!p.expect('>')) return failure(p.error());

    if (local.size() > max_local_part) return failure(AddressError::local_too_long);
    if (domain.size() > max_domain) return failure(AddressError::domain_too_long);
    if (p.pos() > max_path) return failure(AddressError::path_too_long);

    PathResult r;
    r.path = Path{};
    Mailbox& mb = r.path->mailbox;
    mb.local = std::string(local);
    mb.domain = std::string(domain);
    if (!literal) {
        for (char& c : mb.domain) {
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
        }
    }
    mb.domain_is_literal = literal;
    mb.utf8 = non_ascii;
    r.rest = in.substr(p.pos());
    return r;
}

std::string unquote_local_part(std::string_view local) {
    if (local.size() < 2 || local.front() != '"' || local.back() != '"') return std::string(local);
    local = local.substr(1, local.size() - 2);
    std::string out;
    out.reserve(local.size());
    for (std::size_t i = 0; i < local.size(); ++i) {
        if (local[i] == '\\' && i + 1 < local.size()) ++i;
        out += local[i];
    }
    return out;
}

}  // namespace sluice::smtp
