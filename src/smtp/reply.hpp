// reply.hpp: SMTP replies with RFC 3463 enhanced status codes.
//
// STANDARDS: RFC 5321 4.2 (reply syntax, multi-line replies), RFC 2034/3463 (enhanced codes).
#pragma once

#include <string>
#include <string_view>

namespace sluice::smtp {

struct Reply {
    int code = 0;          // 3-digit reply code
    std::string enhanced;  // "2.1.0"; empty only for 220/221-style greetings where not required
    std::string text;      // may contain '\n' for multi-line replies

    bool positive() const { return code >= 200 && code < 400; }
    bool transient() const { return code >= 400 && code < 500; }
    bool permanent() const { return code >= 500; }
};

// Renders a reply as wire lines: "250-2.0.0 first\r\n250 2.0.0 last\r\n". Every line carries the
// enhanced code when there is one (RFC 2034 section 4).
std::string format_reply(const Reply& r);
void append_reply(std::string& out, const Reply& r);
// The same from parts, without building a Reply (no allocation beyond `out`'s own growth).
void append_reply(std::string& out, int code, std::string_view enhanced, std::string_view text);

}  // namespace sluice::smtp
