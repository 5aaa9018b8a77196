#include "smtp/reply.hpp"

#include <fmt/format.h>

namespace sluice::smtp {

void append_reply(std::string& out, const Reply& r) {
    append_reply(out, r.code, r.enhanced, r.text);
}

void append_reply(std::string& out, int code, std::string_view enhanced, std::string_view text) {
    while (true) {
        auto nl = text.find('\n');
        bool last = nl == std::string_view::npos;
        std::string_view line = last ? text : text.substr(0, nl);
        fmt::format_to(std::back_inserter(out), "{}{}", code, last ? ' ' : '-');
        if (!enhanced.empty()) {
            out += enhanced;
            if (!line.empty()) out += ' ';
        }
        out += line;
        out += "\r\n";
        if (last) break;
        text.remove_prefix(nl + 1);
    }
}

std::string format_reply(const Reply& r) {
    std::string s;
    append_reply(s, r);
    return s;
}

}  // namespace sluice::smtp
