// data_reader.hpp: incremental reader for the DATA phase (dot-stuffed text ending at CRLF.CRLF).
//
// SECURITY: the input is untrusted bytes from the client, possibly split anywhere. End of data is
// recognised only as CRLF "." CRLF (or "." CRLF as the very first line). A bare LF or bare CR
// anywhere marks the message as rejected (SMTP smuggling defence) but never ends it; the reader
// keeps consuming until the real end so the session stays in sync. NUL bytes are flagged too. Size
// and line limits are flagged and storing stops, so memory stays bounded by the size limit.
// STANDARDS: RFC 5321 4.1.1.4 (DATA), 4.5.2 (transparency), 4.5.3.1.6 (text line 1000 octets).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::smtp {

class DataReader {
  public:
    // max_size: message bytes (after unstuffing) beyond which too_big() is set and storing stops.
    // max_line: longest text line in octets including CRLF.
    DataReader(std::size_t max_size, std::size_t max_line);

    // Consumes bytes up to and including the end-of-data marker. Returns how many bytes of `in`
    // were used; bytes after the marker belong to the next command (pipelining) and are not
    // consumed.
    std::size_t feed(std::string_view in);

    bool done() const { return done_; }
    bool bare_cr_or_lf() const { return bare_; }
    bool nul() const { return nul_; }
    bool too_big() const { return too_big_; }
    bool line_too_long() const { return line_too_long_; }
    bool header_too_big() const { return header_too_big_; }
    bool ok() const { return !bare_ && !nul_ && !too_big_ && !line_too_long_ && !header_too_big_; }

    // The session found the header section over its limit: refuse like the other flags (storing
    // stops, the memory is freed, the rest is read to the end of data).
    void refuse_header() { set_flag(header_too_big_); }

    // Total bytes of message content seen (after unstuffing), even beyond the limit.
    std::size_t size() const { return size_; }

    // The unstuffed message, CRLF line endings, ending with the CRLF before the final dot (empty
    // for an empty message). Valid content only while ok(). The driver may take bytes off its end
    // (the body, streamed to the spool); size() still counts them.
    std::string& data() { return data_; }
    const std::string& data() const { return data_; }

  private:
    // line_start: after CRLF (or at the start); dot: "." at line start; dot_cr: "." CR at line
    // start; in_line: inside a line; cr: CR seen inside a line, LF decides whether it ends the
    // line.
    enum class State { line_start, in_line, cr, dot, dot_cr };
    void content(const char* p, std::size_t n);  // n bytes of text inside a line
    void end_line();                             // the CRLF that ends a line
    void set_flag(bool& flag);                   // sets a failure flag and stops storing

    std::size_t max_size_;
    std::size_t max_line_;
    State state_ = State::line_start;
    std::size_t line_len_ = 0;
    std::size_t size_ = 0;
    bool done_ = false;
    bool bare_ = false;
    bool nul_ = false;
    bool too_big_ = false;
    bool line_too_long_ = false;
    bool header_too_big_ = false;
    std::string data_;
};

// Counts "Received:" header fields in the header section of a message (up to the first empty line).
std::size_t count_received_headers(std::string_view message);

// The header section of a message: every line before the first empty one, each with its line end
// (the whole message when it has no empty line). A view into `message`.
std::string_view header_section(std::string_view message);

}  // namespace sluice::smtp
