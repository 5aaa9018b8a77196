// author.cpp: see author.hpp.
#include "trust/author.hpp"

#include <idn2.h>

#include <algorithm>

#include "common/ascii.hpp"

namespace sluice::trust {

namespace {

// The From field values of a header section, unfolded (CR and LF dropped).
std::vector<std::string> from_values(std::string_view headers, std::size_t* fields) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < headers.size()) {
        std::size_t end = headers.find('\n', pos);
        end = end == std::string_view::npos ? headers.size() : end + 1;
        while (end < headers.size() && (headers[end] == ' ' || headers[end] == '\t')) {
            const std::size_t next = headers.find('\n', end);
            end = next == std::string_view::npos ? headers.size() : next + 1;
        }
        const std::string_view field = headers.substr(pos, end - pos);
        pos = end;
        const auto colon = field.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view name = field.substr(0, colon);
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
        if (!ascii_iequals(name, "From")) continue;
        ++*fields;
        std::string v;
        for (char c : field.substr(colon + 1))
            if (c != '\r' && c != '\n') v += c;
        out.push_back(std::move(v));
    }
    return out;
}

// One token of an address list, comments and folding white space already dropped.
struct Token {
    enum Kind { atom, quoted, special } kind;
    std::string text;  // atom text, quoted content (unescaped), or the special character
};

// RFC 5322 lexing: atoms (runs of atext and '.'), quoted strings, domain literals as one atom
// ("[...]"), specials ( < > @ , : ; ), comments skipped. False on an unterminated construct.
bool lex(std::string_view v, std::vector<Token>& out) {
    std::size_t i = 0;
    while (i < v.size()) {
        const char c = v[i];
        if (c == ' ' || c == '\t') {
            ++i;
        } else if (c == '(') {
            int depth = 0;
            for (; i < v.size(); ++i) {
                if (v[i] == '\\') {
                    ++i;
                    continue;
                }
                if (v[i] == '(') ++depth;
                if (v[i] == ')' && --depth == 0) break;
            }
            if (i >= v.size()) return false;
            ++i;
        } else if (c == '"') {
            std::string q;
            for (++i; i < v.size() && v[i] != '"'; ++i) {
                if (v[i] == '\\' && i + 1 < v.size()) ++i;
                q += v[i];
            }
            if (i >= v.size()) return false;
            ++i;
            out.push_back({Token::quoted, std::move(q)});
        } else if (c == '[') {
            const auto close = v.find(']', i);
            if (close == std::string_view::npos) return false;
            out.push_back({Token::atom, std::string(v.substr(i, close + 1 - i))});
            i = close + 1;
        } else if (std::string_view("<>@,:;").find(c) != std::string_view::npos) {
            out.push_back({Token::special, std::string(1, c)});
            ++i;
        } else if (c == ')' || c == ']' || c == '\\') {
            return false;
        } else {
            std::string a;
            while (i < v.size() && v[i] != ' ' && v[i] != '\t' &&
                   std::string_view("()<>@,:;\"[]\\").find(v[i]) == std::string_view::npos)
                a += v[i++];
            out.push_back({Token::atom, std::move(a)});
        }
    }
    return true;
}

bool is(const Token& t, char c) {
    return t.kind == Token::special && t.text[0] == c;
}

// The domain of one mailbox's tokens ("name <local@domain>" or "local@domain"), "" if none.
std::string mailbox_domain(const std::vector<Token>& t, std::size_t b, std::size_t e) {
    // An angle-addr: the last '<' ... '>' pair; an obs-route "@a,@b:" inside it is skipped.
    for (std::size_t i = e; i-- > b;) {
        if (!is(t[i], '<')) continue;
        std::size_t close = i + 1;
        while (close < e && !is(t[close], '>')) ++close;
        if (close >= e) return {};
        std::size_t start = i + 1;
        for (std::size_t k = start; k < close; ++k)
            if (is(t[k], ':')) start = k + 1;
        b = start;
        e = close;
        break;
    }
    // addr-spec: local-part "@" domain, the last '@' at this level.
    std::size_t at = e;
    for (std::size_t i = b; i < e; ++i)
        if (is(t[i], '@')) at = i;
    if (at == e || at == b || at + 1 >= e) return {};
    // obs-domain allows CFWS around its dots ("example . com"), nothing else between atoms.
    std::string domain;
    for (std::size_t i = at + 1; i < e; ++i) {
        if (t[i].kind != Token::atom) return {};
        if (!domain.empty() && domain.back() != '.' && t[i].text.front() != '.') return {};
        domain += t[i].text;
    }
    return domain;
}

}  // namespace

std::string dns_domain(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > 253 || name.front() == '[') return {};
    std::string d;
    const bool ascii = std::all_of(name.begin(), name.end(),
                                   [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    if (ascii) {
        d = ascii_lower(name);
    } else {
        char* out = nullptr;
        const std::string in(name);
        if (idn2_to_ascii_8z(in.c_str(), &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK)
            return {};
        d = ascii_lower(out);
        idn2_free(out);
    }
    if (d.size() > 253) return {};
    std::size_t start = 0;
    for (std::size_t i = 0; i <= d.size(); ++i) {
        if (i < d.size() && d[i] != '.') {
            const char c = d[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
                return {};
            continue;
        }
        if (i == start || i - start > 63) return {};
        start = i + 1;
    }
    return d;
}

Authors author_domains(std::string_view headers) {
    Authors a;
    for (const std::string& value : from_values(headers, &a.fields)) {
        std::vector<Token> t;
        if (!lex(value, t)) {
            a.malformed = true;
            continue;
        }
        // Mailboxes are separated by ',' outside angle brackets; a group "name: list ;" opens at
        // its ':' (outside brackets) and closes at ';'.
        std::size_t start = 0;
        bool in_angle = false;
        std::size_t found = 0;
        for (std::size_t i = 0; i <= t.size(); ++i) {
            const bool end = i == t.size();
            if (!end && is(t[i], '<')) in_angle = true;
            if (!end && is(t[i], '>')) in_angle = false;
            if (!end && in_angle) continue;
            if (!end && is(t[i], ':')) {  // a group's display name ends here
                start = i + 1;
                continue;
            }
            if (!end && !is(t[i], ',') && !is(t[i], ';')) continue;
            if (i > start) {
                const std::string raw = mailbox_domain(t, start, i);
                const std::string d = dns_domain(raw);
                if (d.empty()) {
                    a.malformed = true;
                } else {
                    ++found;
                    if (std::find(a.domains.begin(), a.domains.end(), d) == a.domains.end())
                        a.domains.push_back(d);
                }
            }
            start = i + 1;
        }
        if (found == 0) a.malformed = true;  // a From without a mailbox (an empty group too)
    }
    return a;
}

}  // namespace sluice::trust
