// control_protocol.cpp: parsing and formatting of control-socket lines (see control_protocol.hpp).
#include "server/control_protocol.hpp"

#include "common/ascii.hpp"

#include <array>
#include <charconv>
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
    Request r{info->verb, {}};
    std::string_view rest = arg;
    while (!rest.empty()) {
        const auto next = rest.find(' ');
        const std::string_view id = rest.substr(0, next);
        if (id.empty()) return fail("empty argument");
        if (!is_valid_queue_id(id)) return fail("invalid queue ID");
        if (r.ids.size() == kMaxIdsPerRequest) return fail("too many arguments");
        r.ids.emplace_back(id);
        if (next == std::string_view::npos) break;
        rest.remove_prefix(next + 1);
        if (rest.empty()) return fail("empty argument");  // a trailing space
    }
    if (r.ids.empty() && info->id_required) return fail("queue ID required");
    return ParseResult{std::move(r), {}};
}

std::string format_request(const Request& r) {
    std::string line;
    for (const auto& v : kVerbs)
        if (v.verb == r.verb) line = v.name;
    for (const auto& id : r.ids) {
        line += ' ';
        line += id;
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

namespace sluice::server::control {

std::string format_bulk(const BulkCounts& c) {
    std::string out =
        "touched=" + std::to_string(c.touched) + " missed=" + std::to_string(c.missed);
    if (!c.detail.empty()) out += " " + c.detail;
    return out;
}

std::optional<BulkCounts> parse_bulk(std::string_view text) {
    BulkCounts c;
    auto number = [&text](std::string_view key, std::size_t& out) {
        if (text.substr(0, key.size()) != key) return false;
        text.remove_prefix(key.size());
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
        if (ec != std::errc{} || end == text.data()) return false;
        text.remove_prefix(static_cast<std::size_t>(end - text.data()));
        return true;
    };
    if (!number("touched=", c.touched)) return std::nullopt;
    if (text.substr(0, 1) != " ") return std::nullopt;
    text.remove_prefix(1);
    if (!number("missed=", c.missed)) return std::nullopt;
    if (!text.empty()) {
        if (text.front() != ' ') return std::nullopt;
        c.detail = std::string(text.substr(1));
    }
    return c;
}

}  // namespace sluice::server::control
