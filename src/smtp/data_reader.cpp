// data_reader.cpp: the DATA-phase state machine (dot-unstuffing, end-of-data detection, limits).
//
// SECURITY: input is untrusted client bytes split at arbitrary points. Only CRLF "." CRLF ends the
// data (SMTP smuggling defence): a bare CR or bare LF is flagged and treated as ordinary text, so
// it can never start a line and never complete an end marker. The reader consumes nothing past the
// end marker (pipelined commands stay with the caller). Once a flag is set the stored content is
// freed and nothing more is stored, so memory is bounded by max_size. Scanning uses memchr with
// cached hits, so the work is linear in the input whatever the byte pattern.
// STANDARDS: RFC 5321 4.1.1.4, 4.5.2 (transparency), 4.5.3.1.6 (line length, not counting the
// stuffed dot); RFC 5322 3.6.7 (Received, trace fields).
#include "smtp/data_reader.hpp"

#include "smtp/header_scan.hpp"

#include <algorithm>
#include <cstring>

namespace sluice::smtp {
namespace {

// Position of the next `c` at or after p (or end). Remembers its last hit, so scanning the same
// buffer repeatedly costs one pass in total.
struct Finder {
    char c;
    const char* pos = nullptr;

    const char* next(const char* p, const char* end) {
        if (pos == nullptr || pos < p) {
            const void* hit = std::memchr(p, c, static_cast<std::size_t>(end - p));
            pos = hit != nullptr ? static_cast<const char*>(hit) : end;
        }
        return pos;
    }
};

bool starts_with_received(std::string_view line) {
    constexpr std::string_view name = "received";
    if (line.size() < name.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = line[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
        if (c != name[i]) return false;
    }
    line.remove_prefix(name.size());
    while (!line.empty() && (line[0] == ' ' || line[0] == '\t')) line.remove_prefix(1);
    return !line.empty() && line[0] == ':';
}

}  // namespace

DataReader::DataReader(std::size_t max_size, std::size_t max_line)
    : max_size_(max_size), max_line_(max_line) {}

void DataReader::set_flag(bool& flag) {
    if (flag) return;
    flag = true;
    std::string().swap(data_);  // the content is no longer valid: free the memory now
}

void DataReader::content(const char* p, std::size_t n) {
    line_len_ += n;
    size_ += n;
    if (line_len_ + 2 > max_line_) set_flag(line_too_long_);
    if (size_ > max_size_) set_flag(too_big_);
    if (ok()) data_.append(p, n);
}

void DataReader::end_line() {
    if (line_len_ + 2 > max_line_) set_flag(line_too_long_);
    line_len_ = 0;
    size_ += 2;
    if (size_ > max_size_) set_flag(too_big_);
    if (ok()) data_.append("\r\n", 2);
}

std::size_t DataReader::feed(std::string_view in) {
    if (done_) return 0;
    if (ok()) {
        // At most one allocation per chunk: the stored bytes never outnumber the bytes fed, and
        // appending line by line would otherwise regrow the buffer many times (7 times for 1 KiB).
        // Never more than the size limit; doubling keeps many small chunks linear.
        const std::size_t need = std::min(data_.size() + in.size(), max_size_);
        if (need > data_.capacity())
            data_.reserve(std::min(std::max(need, 2 * data_.capacity()), max_size_));
    }
    const char* const begin = in.data();
    const char* const end = begin + in.size();
    const char* p = begin;
    Finder next_cr{'\r'};
    Finder next_lf{'\n'};
    Finder next_nul{'\0'};

    while (p < end) {
        switch (state_) {
            case State::line_start:
                if (*p == '.') {
                    ++p;
                    state_ = State::dot;
                } else {
                    state_ = State::in_line;
                }
                break;

            case State::dot:
                if (*p == '\r') {
                    ++p;
                    state_ = State::dot_cr;
                } else {
                    state_ = State::in_line;  // a stuffed dot: drop it, the rest is text
                }
                break;

            case State::dot_cr:
                if (*p == '\n') {
                    done_ = true;
                    return static_cast<std::size_t>(p + 1 - begin);
                }
                // "." CR not followed by LF: the dot was stuffing, the CR is bare.
                set_flag(bare_);
                content("\r", 1);
                state_ = State::in_line;
                break;

            case State::cr:
                if (*p == '\n') {
                    ++p;
                    end_line();
                    state_ = State::line_start;
                } else {
                    set_flag(bare_);
                    content("\r", 1);
                    state_ = State::in_line;
                }
                break;

            case State::in_line: {
                const char* stop =
                    std::min({next_cr.next(p, end), next_lf.next(p, end), next_nul.next(p, end)});
                if (stop > p) {
                    content(p, static_cast<std::size_t>(stop - p));
                    p = stop;
                }
                if (p == end) break;
                char c = *p++;
                if (c == '\r') {
                    state_ = State::cr;
                } else {
                    set_flag(c == '\n' ? bare_ : nul_);  // a bare LF never ends a line
                    content(&c, 1);
                }
                break;
            }
        }
    }
    return in.size();
}

std::size_t count_received_headers(std::string_view message) {
    std::string_view headers = header_section(message);
    std::size_t count = 0;
    while (!headers.empty()) {
        const std::size_t nl = headers.find('\n');
        std::string_view line = headers.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (starts_with_received(line)) ++count;
        if (nl == std::string_view::npos) break;
        headers.remove_prefix(nl + 1);
    }
    return count;
}

std::string_view header_section(std::string_view message) {
    HeaderScan s(HeaderScan::npos);
    s.scan(message);
    return s.done() ? message.substr(0, s.fields_end()) : message;
}

}  // namespace sluice::smtp
