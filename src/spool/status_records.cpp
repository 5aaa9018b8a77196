// status_records.cpp: see status_records.hpp.
#include "spool/status_records.hpp"

#include <charconv>
#include <vector>

#include "spool/crc.hpp"

namespace sluice::spool {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_crc(std::string& line) {
    append_crc32_hex(line, crc32_of(line));
}

template <typename Int>
void append_int(std::string& out, Int v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;
    out.append(buf, end);
    out.push_back(' ');
}

void append_escaped(std::string& out, std::string_view s) {
    for (unsigned char c : s) {
        if (c > 0x20 && c < 0x7f && c != '%') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
        }
    }
    out.push_back(' ');
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool unescape(std::string_view s, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        if (i + 2 >= s.size()) return false;
        int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return true;
}

template <typename Int>
bool parse_int(std::string_view s, Int& out) {
    if (s.empty()) return false;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && ptr == s.data() + s.size();
}

std::string wrap_record(std::string body) {
    append_crc(body);
    std::string out;
    out.reserve(body.size() + 2);
    out.push_back('\n');
    out.append(body);
    out.push_back('\n');
    return out;
}

// Splits a line into space-separated fields (exactly; empty fields are kept).
std::vector<std::string_view> split_fields(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (true) {
        std::size_t sp = line.find(' ', start);
        if (sp == std::string_view::npos) {
            out.push_back(line.substr(start));
            return out;
        }
        out.push_back(line.substr(start, sp - start));
        start = sp + 1;
    }
}

}  // namespace

std::string status_record(std::size_t index, const RecipientStatus& st) {
    std::string body;
    body.reserve(64 + st.last_error.size());
    body = "R ";
    append_int(body, index);
    append_int(body, static_cast<int>(st.state));
    append_int(body, st.attempts);
    append_int(body, st.next_attempt_us);
    append_escaped(body, st.last_error);
    return wrap_record(std::move(body));
}

std::string held_record(bool held) {
    return wrap_record(held ? "H 1 " : "H 0 ");
}

std::string delay_warned_record() {
    return wrap_record("W 1 ");
}

void fold_status(std::string_view file, QueueEntry& e) {
    std::vector<RecipientStatus>& rcpts = e.recipients;
    std::size_t pos = 0;
    std::string error;
    while (pos < file.size()) {
        std::size_t nl = file.find('\n', pos);
        std::string_view line =
            file.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? file.size() : nl + 1;
        if (line.size() < 10 || line[line.size() - 9] != ' ') continue;
        const auto want = parse_crc32_hex(line.substr(line.size() - 8));
        std::string_view body = line.substr(0, line.size() - 8);
        if (!want || crc32_of(body) != *want) continue;
        auto f = split_fields(body.substr(0, body.size() - 1));  // drop the space before the CRC
        if (f.size() == 2 && f[0] == "H" && (f[1] == "0" || f[1] == "1")) {
            e.held = f[1] == "1";
            continue;
        }
        if (f.size() == 2 && f[0] == "W" && f[1] == "1") {
            e.delay_warned = true;
            continue;
        }
        if (f.size() != 6 || f[0] != "R") continue;
        std::size_t index = 0;
        int state = 0;
        RecipientStatus st;
        if (!parse_int(f[1], index) || !parse_int(f[2], state) || state < 0 || state > 2 ||
            !parse_int(f[3], st.attempts) || !parse_int(f[4], st.next_attempt_us) ||
            !unescape(f[5], error) || index >= rcpts.size()) {
            continue;
        }
        st.state = static_cast<RecipientState>(state);
        st.last_error = error;
        rcpts[index] = std::move(st);
    }
}

}  // namespace sluice::spool
