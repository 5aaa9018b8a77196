// smtp_client_reply.cpp: reply splitting and EHLO parsing (see smtp_client_reply.hpp).
#include "delivery/smtp_client_reply.hpp"

#include <fmt/format.h>

namespace sluice::delivery {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// "2.1.5" style: class 2/4/5, then 1-3 digits, then 1-3 digits.
std::size_t enhanced_length(std::string_view s) {
    if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return 0;
    std::size_t i = 2, n = 0;
    while (i < s.size() && is_digit(s[i]) && n < 3) ++i, ++n;
    if (n == 0 || i >= s.size() || s[i] != '.') return 0;
    ++i;
    n = 0;
    while (i < s.size() && is_digit(s[i]) && n < 3) ++i, ++n;
    if (n == 0) return 0;
    if (i < s.size() && s[i] != ' ') return 0;
    return i;
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
}

}  // namespace

std::string ServerReply::str() const {
    std::string out = std::to_string(code);
    for (std::size_t i = 0; i < lines.size(); ++i) {
        out += i == 0 ? " " : " / ";
        out += lines[i];
    }
    return out;
}

smtp::Reply ServerReply::to_reply() const {
    smtp::Reply r;
    r.code = code;
    r.enhanced = enhanced;
    if (r.enhanced.empty()) r.enhanced = code >= 500 ? "5.0.0" : code >= 400 ? "4.0.0" : "2.0.0";
    std::string text;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        std::string_view l = lines[i];
        if (std::size_t n = enhanced_length(l)) l.remove_prefix(std::min(l.size(), n + 1));
        if (i) text += ' ';
        text += l;
    }
    r.text = std::move(text);
    return r;
}

std::optional<ServerReply> ReplyParser::next() {
    if (broken_) return std::nullopt;
    while (true) {
        const auto eol = buf_.find('\n', pos_);
        if (eol == std::string::npos) {
            if (buf_.size() - pos_ > kMaxReplyLine) {
                broken_ = true;
                return ServerReply{};
            }
            // Keep the unread tail only.
            buf_.erase(0, pos_);
            pos_ = 0;
            return std::nullopt;
        }
        std::string_view line(buf_.data() + pos_, eol - pos_);
        pos_ = eol + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const bool ok = line.size() >= 3 && is_digit(line[0]) && is_digit(line[1]) &&
                        is_digit(line[2]) && line[0] >= '2' && line[0] <= '5' &&
                        (line.size() == 3 || line[3] == ' ' || line[3] == '-') &&
                        line.size() <= kMaxReplyLine;
        const int code = ok ? (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') : 0;
        if (!ok || (cur_.code != 0 && code != cur_.code) || cur_.lines.size() >= kMaxReplyLines) {
            broken_ = true;
            return ServerReply{};
        }
        cur_.code = code;
        std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
        if (cur_.lines.empty()) {
            if (std::size_t n = enhanced_length(text);
                n && text[0] == static_cast<char>('0' + code / 100))
                cur_.enhanced = std::string(text.substr(0, n));
        }
        cur_.lines.emplace_back(text);
        if (line.size() == 3 || line[3] == ' ') {
            ServerReply done = std::move(cur_);
            cur_ = ServerReply{};
            return done;
        }
    }
}

Extensions parse_ehlo(const ServerReply& r) {
    Extensions e;
    if (r.code != 250) return e;
    e.esmtp = true;
    for (std::size_t i = 1; i < r.lines.size(); ++i) {
        const std::string l = upper(r.lines[i]);
        const auto sp = l.find(' ');
        const std::string kw = l.substr(0, sp);
        if (kw == "PIPELINING")
            e.pipelining = true;
        else if (kw == "STARTTLS")
            e.starttls = true;
        else if (kw == "8BITMIME")
            e.eightbitmime = true;
        else if (kw == "SMTPUTF8")
            e.smtputf8 = true;
        else if (kw == "DSN")
            e.dsn = true;
        else if (kw == "CHUNKING")
            e.chunking = true;
        else if (kw == "BINARYMIME")
            e.binarymime = true;
        else if (kw == "ENHANCEDSTATUSCODES")
            e.enhancedstatuscodes = true;
        else if (kw == "SIZE")
            e.has_size = true;
        if (kw == "AUTH" && sp != std::string::npos) {
            const std::string mechs = " " + l.substr(sp + 1) + " ";
            e.auth_plain |= mechs.find(" PLAIN ") != std::string::npos;
            e.auth_login |= mechs.find(" LOGIN ") != std::string::npos;
        }
        if (kw == "SIZE" && sp != std::string::npos) {
            std::uint64_t v = 0;
            bool digits = true;
            for (char c : l.substr(sp + 1)) {
                if (!is_digit(c) || v > (UINT64_MAX - 9) / 10) {
                    digits = false;
                    break;
                }
                v = v * 10 + static_cast<std::uint64_t>(c - '0');
            }
            if (digits) e.size = v;
        }
    }
    return e;
}

}  // namespace sluice::delivery
