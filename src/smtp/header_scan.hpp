// header_scan.hpp: finds where a message's header section ends while the message arrives, and
// enforces a limit on its size, so the driver can keep the header section in memory (policy
// checks, milters and DKIM read it) and stream the body to the spool.
//
// The header section ends at the first empty line (RFC 5322 2.1), or, for a message that has
// none, at the first line that is neither a header field ("name:", RFC 5322 2.2, obsolete space
// before the colon allowed) nor a folded continuation of one: a body that starts without the empty
// line is still a body, not a huge header. Pure; fed the message so far, it looks only at new
// complete lines.
//
// SECURITY: the limit bounds memory held per message whatever the client sends (a 20 MB folded
// header, a header section with no end), checked before the section is complete.
#pragma once

#include <cstddef>
#include <string_view>

namespace sluice::smtp {

class HeaderScan {
  public:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    explicit HeaderScan(std::size_t limit) : limit_(limit) {}

    // `message` is the whole message so far (CRLF lines; it only ever grows at the end, and its
    // first end() bytes never change once end() is known).
    void scan(std::string_view message);

    bool done() const { return end_ != npos; }
    // Where the body starts (after the empty line, or at the first line that is not a header);
    // npos while the header section goes on.
    std::size_t end() const { return end_; }
    // The header fields alone: end() without the empty line that ended them.
    std::size_t fields_end() const { return fields_end_; }
    bool too_big() const { return too_big_; }

  private:
    std::size_t limit_;
    std::size_t pos_ = 0;       // start of the first line not yet looked at
    std::size_t searched_ = 0;  // no line feed before this (a long line arriving in pieces)
    std::size_t end_ = npos;
    std::size_t fields_end_ = npos;
    bool too_big_ = false;
};

// True if `line` (without its line end) can be in a header section: a field ("Name: ...") or,
// unless it is the first line, a continuation (starting with a space or tab).
bool is_header_line(std::string_view line, bool first);

// Where the body of a complete message starts, by the rule above (its size when it is all header).
std::size_t header_section_end(std::string_view message);

}  // namespace sluice::smtp
