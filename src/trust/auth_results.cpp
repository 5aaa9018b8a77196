// auth_results.cpp: see auth_results.hpp.
#include "trust/auth_results.hpp"

#include "common/ascii.hpp"

namespace sluice::trust {

namespace {

constexpr std::string_view kName = "Authentication-Results";

bool atext(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool dot_atom(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '.') {
            if (s[i + 1] == '.') return false;
            continue;
        }
        if (!atext(s[i])) return false;
    }
    return true;
}

bool domain_chars(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return false;
    return true;
}

// Skips whitespace and (nested) comments.
std::string_view skip_cfws(std::string_view s) {
    for (;;) {
        while (!s.empty() &&
               (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
            s.remove_prefix(1);
        if (s.empty() || s.front() != '(') return s;
        int depth = 0;
        std::size_t i = 0;
        for (; i < s.size(); ++i) {
            if (s[i] == '\\') {
                ++i;
                continue;
            }
            if (s[i] == '(') ++depth;
            if (s[i] == ')' && --depth == 0) break;
        }
        s = i < s.size() ? s.substr(i + 1) : std::string_view{};
    }
}

}  // namespace

std::string printable(std::string_view text, std::size_t max) {
    std::string out;
    for (char c : text.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out;
}

std::string comment_text(std::string_view text, std::size_t max) {
    std::string out;
    for (char c : text) {
        if (out.size() >= max) break;
        if (c == '(' || c == ')' || c == '\\') out += '\\';
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    return out;
}

std::string property_value(std::string_view v) {
    const auto at = v.rfind('@');
    const std::string_view domain = at == std::string_view::npos ? v : v.substr(at + 1);
    if (!domain_chars(domain)) return "unknown";
    if (at == std::string_view::npos) return std::string(domain);
    if (at == 0 || dot_atom(v.substr(0, at))) return std::string(v);
    return std::string(domain);
}

std::string quoted(std::string_view v) {
    bool token = !v.empty();
    for (char c : v)
        token = token && c > 0x20 && c < 0x7f &&
                std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
    if (token) return std::string(v);
    std::string out = "\"";
    for (char c : v.substr(0, 200)) {
        if (c == '"' || c == '\\') out += '\\';
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    return out + '"';
}

std::string authentication_results(std::string_view authserv_id,
                                   const std::vector<MethodResult>& results) {
    std::string out(kName);
    out += ": ";
    out += authserv_id;
    if (results.empty()) return out + "; none\r\n";
    for (const auto& r : results) {
        out += ";\r\n\t";
        out += r.method;
        out += '=';
        out += r.result;
        if (!r.comment.empty()) {
            out += " (";
            out += comment_text(r.comment);
            out += ')';
        }
        for (const auto& [name, value] : r.properties) {
            out += "\r\n\t ";  // one property per line: long values never need folding
            out += name;
            out += '=';
            out += value;
        }
    }
    return out + "\r\n";
}

// A key-value pair's value (RFC 7208 9.1): a dot-atom as is, anything else a quoted-string.
static std::string kv_value(std::string_view v) {
    if (dot_atom(v)) return std::string(v);
    std::string q = quoted(v);
    return q.front() == '"' ? q : '"' + q + '"';
}

std::string received_spf(const SpfTrace& t) {
    std::string out = "Received-SPF: ";
    out += t.result;
    if (!t.comment.empty()) out += " (" + comment_text(t.comment) + ")";
    out += "\r\n\tclient-ip=" + kv_value(t.client_ip) + ";";
    out += "\r\n\tenvelope-from=" + kv_value(t.envelope_from) + ";";
    out += "\r\n\thelo=" + kv_value(t.helo) + ";";
    out += "\r\n\tidentity=" + std::string(t.identity) + ";";
    out += "\r\n\treceiver=" + kv_value(t.receiver) + ";";
    if (!t.mechanism.empty()) out += "\r\n\tmechanism=" + kv_value(t.mechanism) + ";";
    if (!t.problem.empty()) out += "\r\n\tproblem=" + kv_value(t.problem) + ";";
    out.pop_back();  // the last ';'
    return out + "\r\n";
}

std::string results_authserv_id(std::string_view value) {
    // authserv-id = value (RFC 8601 2.2): a token or a quoted-string, which readers unquote.
    value = skip_cfws(value);
    std::string out;
    if (!value.empty() && value.front() == '"') {
        for (std::size_t i = 1; i < value.size() && value[i] != '"'; ++i) {
            if (value[i] == '\\' && i + 1 < value.size()) ++i;
            out += value[i];
        }
        return out;
    }
    for (char c : value) {
        if (c <= 0x20 || c >= 0x7f ||
            std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos)
            break;
        out += c;
    }
    return out;
}

std::string strip_results(std::string_view headers, std::string_view authserv_id,
                          std::size_t* removed) {
    std::string out;
    out.reserve(headers.size());
    std::size_t count = 0;
    std::size_t pos = 0;
    while (pos < headers.size()) {
        // One field: its first line and every continuation line (starting with SP or HTAB).
        std::size_t end = headers.find('\n', pos);
        end = end == std::string_view::npos ? headers.size() : end + 1;
        while (end < headers.size() && (headers[end] == ' ' || headers[end] == '\t')) {
            const std::size_t next = headers.find('\n', end);
            end = next == std::string_view::npos ? headers.size() : next + 1;
        }
        const std::string_view field = headers.substr(pos, end - pos);
        pos = end;
        const auto colon = field.find(':');
        if (colon != std::string_view::npos) {
            std::string_view name = field.substr(0, colon);
            while (!name.empty() && (name.back() == ' ' || name.back() == '\t'))
                name.remove_suffix(1);
            if (ascii_iequals(name, kName) &&
                ascii_iequals(results_authserv_id(field.substr(colon + 1)), authserv_id)) {
                ++count;
                continue;
            }
        }
        out += field;
    }
    if (removed) *removed = count;
    return out;
}

}  // namespace sluice::trust
