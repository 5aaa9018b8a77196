// control_protocol.cpp: parsing and formatting of control-socket lines (see control_protocol.hpp).
#include "server/control_protocol.hpp"

#include "common/ascii.hpp"

#include <array>
#include <utility>

#include "common/queue_id.hpp"

namespace sluice::server::control {
namespace {

struct VerbInfo {
    std::string_view name;
    Verb verb;
    bool id_required;  // FLUSH alone means every message
};

constexpr std::array<VerbInfo, 4> kVerbs{{
    {"FLUSH", Verb::flush, false},
    {"HOLD", Verb::hold, true},
    {"RELEASE", Verb::release, true},
    {"DELETE", Verb::remove, true},
}};

ParseResult fail(std::string why) {
    return ParseResult{std::nullopt, std::move(why)};
}

}  // namespace

ParseResult parse_request(std::string_view line) {
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxRequestLine) return fail("request line too long");
    for (char c : line) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f) return fail("invalid character in request");
    }
    const auto sp = line.find(' ');
    const std::string_view verb = line.substr(0, sp);
    const std::string_view arg =
        sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
    if (verb.empty()) return fail("empty request");
    const VerbInfo* info = nullptr;
    for (const auto& v : kVerbs)
        if (ascii_iequals(v.name, verb)) info = &v;
    if (!info) return fail("unknown command");
    if (sp != std::string_view::npos && arg.empty()) return fail("empty argument");
    if (arg.find(' ') != std::string_view::npos) return fail("too many arguments");
    if (arg.empty() && info->id_required) return fail("queue ID required");
    if (!arg.empty() && !is_valid_queue_id(arg)) return fail("invalid queue ID");
    return ParseResult{Request{info->verb, std::string(arg)}, {}};
}

std::string format_request(const Request& r) {
    std::string line;
    for (const auto& v : kVerbs)
        if (v.verb == r.verb) line = v.name;
    if (!r.id.empty()) {
        line += ' ';
        line += r.id;
    }
    line += '\n';
    return line;
}

std::string format_response(bool ok, std::string_view text) {
    std::string out = ok ? "OK" : "ERR";
    if (!text.empty()) out += ' ';
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f) ? ' ' : c;
    }
    out += '\n';
    return out;
}

std::optional<Response> parse_response(std::string_view line) {
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto take = [&](std::string_view word, bool ok) -> std::optional<Response> {
        if (line.substr(0, word.size()) != word) return std::nullopt;
        std::string_view rest = line.substr(word.size());
        if (!rest.empty() && rest.front() != ' ') return std::nullopt;
        if (!rest.empty()) rest.remove_prefix(1);
        return Response{ok, std::string(rest)};
    };
    if (auto r = take("OK", true)) return r;
    return take("ERR", false);
}

}  // namespace sluice::server::control
