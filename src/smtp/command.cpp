// command.cpp: splitting SMTP command lines; MAIL/RCPT argument and ESMTP parameter syntax; xtext.
//
// SECURITY: every input is an untrusted line from the client (CRLF removed, length bounded by the
// caller). Nothing here allocates more than the input size, and every loop is linear. Which
// parameters are allowed, and their meaning, is the session's business, not this file's.
// STANDARDS: RFC 5321 4.1.1, 4.1.2 (Mail-parameters, esmtp-param), RFC 6531 3.3 (UTF-8
// esmtp-value), RFC 3461 4 (xtext).
#include "smtp/command.hpp"

#include "common/ascii.hpp"

#include <array>
#include <charconv>

namespace sluice::smtp {
namespace {

struct VerbName {
    std::string_view name;
    Verb verb;
};

constexpr std::array<VerbName, 23> verb_names{{
    {"HELO", Verb::helo},
    {"EHLO", Verb::ehlo},
    {"MAIL", Verb::mail},
    {"RCPT", Verb::rcpt},
    {"DATA", Verb::data},
    {"BDAT", Verb::bdat},
    {"RSET", Verb::rset},
    {"NOOP", Verb::noop},
    {"QUIT", Verb::quit},
    {"VRFY", Verb::vrfy},
    {"EXPN", Verb::expn},
    {"HELP", Verb::help},
    {"STARTTLS", Verb::starttls},
    {"AUTH", Verb::auth},
    // HTTP methods: a browser or proxy talking to the SMTP port (cross-protocol attacks).
    {"GET", Verb::http},
    {"POST", Verb::http},
    {"HEAD", Verb::http},
    {"PUT", Verb::http},
    {"DELETE", Verb::http},
    {"OPTIONS", Verb::http},
    {"CONNECT", Verb::http},
    {"PATCH", Verb::http},
    {"TRACE", Verb::http},
}};

bool is_alnum(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
bool valid_keyword(std::string_view k) {
    if (k.empty() || !is_alnum(static_cast<unsigned char>(k[0]))) return false;
    for (char c : k) {
        if (!is_alnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    return true;
}

// esmtp-value = 1*(%d33-60 / %d62-126), plus UTF8-non-ascii (RFC 6531 3.3).
bool valid_value(std::string_view v) {
    if (v.empty()) return false;
    while (!v.empty()) {
        unsigned char c = static_cast<unsigned char>(v[0]);
        std::size_t n = 1;
        if (c >= 0x80) {
            n = utf8_sequence_length(v);
            if (n == 0) return false;
        } else if (c < 33 || c > 126 || c == '=') {
            return false;
        }
        v.remove_prefix(n);
    }
    return true;
}

PathArgsResult syntax_error() {
    PathArgsResult r;
    r.error = ArgError::syntax;
    return r;
}

PathArgsResult parse_path_args(std::string_view args, std::string_view prefix, bool allow_null,
                               bool allow_postmaster) {
    if (args.size() < prefix.size() || !ascii_iequals(args.substr(0, prefix.size()), prefix)) {
        return syntax_error();
    }
    args.remove_prefix(prefix.size());
    if (!args.empty() && args[0] == ' ') args.remove_prefix(1);  // "MAIL FROM: <a@b>"
    if (args.empty() || args[0] != '<') return syntax_error();

    PathResult pr = parse_path(args, allow_null, allow_postmaster);
    if (!pr.path) {
        PathArgsResult r;
        r.error = ArgError::address;
        r.address_error = pr.error;
        return r;
    }

    PathArgs out;
    out.path = std::move(*pr.path);
    std::string_view rest = pr.rest;
    while (!rest.empty()) {
        if (rest[0] != ' ') return syntax_error();
        while (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
        if (rest.empty()) break;  // trailing spaces
        std::string_view param = rest.substr(0, rest.find(' '));
        rest.remove_prefix(param.size());

        std::size_t eq = param.find('=');
        std::string_view keyword = param.substr(0, eq);
        if (!valid_keyword(keyword)) return syntax_error();
        Param p;
        p.keyword = std::string(keyword);
        for (char& c : p.keyword) {
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
        }
        if (eq != std::string_view::npos) {
            std::string_view value = param.substr(eq + 1);
            if (!valid_value(value)) return syntax_error();
            p.value = std::string(value);
        }
        out.params.push_back(std::move(p));
    }

    PathArgsResult r;
    r.args = std::move(out);
    return r;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;  // RFC 3461 hexchar is upper-case only
}

}  // namespace

Command parse_command(std::string_view line) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);

    Command cmd;
    std::size_t sp = line.find(' ');
    cmd.verb_text = line.substr(0, sp);
    if (sp != std::string_view::npos) cmd.args = line.substr(sp + 1);
    for (const VerbName& v : verb_names) {
        if (ascii_iequals(v.name, cmd.verb_text)) {
            cmd.verb = v.verb;
            break;
        }
    }
    if (line.ends_with(" HTTP/1.0") || line.ends_with(" HTTP/1.1")) cmd.verb = Verb::http;
    return cmd;
}

PathArgsResult parse_mail_args(std::string_view args) {
    return parse_path_args(args, "FROM:", /*allow_null=*/true, /*allow_postmaster=*/false);
}

PathArgsResult parse_rcpt_args(std::string_view args) {
    return parse_path_args(args, "TO:", /*allow_null=*/false, /*allow_postmaster=*/true);
}

std::optional<std::string> decode_xtext(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '+') {
            if (i + 2 >= s.size()) return std::nullopt;
            int hi = hex_value(s[i + 1]);
            int lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (c >= 33 && c <= 126 && c != '=') {
            out += static_cast<char>(c);
        } else {
            return std::nullopt;
        }
    }
    return out;
}

std::optional<std::size_t> parse_decimal(std::string_view s) {
    if (s.empty() || s.size() > 19) return std::nullopt;
    std::size_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

}  // namespace sluice::smtp
