// smtp_client_reply.hpp: the client side of SMTP replies, without I/O: splitting the server's
// bytes into (multi-line) replies, and reading the EHLO extension list.
//
// SECURITY: every byte comes from the remote server, which is untrusted. Lines are bounded
// (kMaxReplyLine), a reply has at most kMaxReplyLines lines, and a line that is not
// "DDD[ -]text" makes the reply malformed (code 0), which callers treat as a protocol error.
// STANDARDS: RFC 5321 4.2 (reply syntax), 4.1.1.1 (EHLO reply); RFC 2034/3463 (enhanced codes);
// RFC 1870 SIZE, 2920 PIPELINING, 3207 STARTTLS, 6152 8BITMIME, 6531 SMTPUTF8, 3461 DSN,
// 3030 CHUNKING/BINARYMIME.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/reply.hpp"

namespace sluice::delivery {

constexpr std::size_t kMaxReplyLine = 4096;
constexpr std::size_t kMaxReplyLines = 512;

// A whole reply: its code, the enhanced code of its first line (if any) and its text lines.
// code == 0 means malformed.
struct ServerReply {
    int code = 0;
    std::string enhanced;
    std::vector<std::string> lines;  // text after "DDD-"/"DDD " (enhanced code still included)

    // "250 2.0.0 Ok" style single string for logs and DSNs (lines joined by " / ").
    std::string str() const;
    smtp::Reply to_reply() const;  // code, enhanced (or a default from the code class), text
};

class ReplyParser {
  public:
    void feed(std::string_view bytes) { buf_.append(bytes.data(), bytes.size()); }
    // The next complete reply, if buffered. A malformed one has code 0 and stops the parser.
    std::optional<ServerReply> next();
    bool buffered() const { return buf_.size() > pos_; }  // unread bytes after the last reply

  private:
    std::string buf_;
    std::size_t pos_ = 0;
    ServerReply cur_;
    bool broken_ = false;
};

struct Extensions {
    bool esmtp = false;  // EHLO succeeded
    bool pipelining = false;
    bool starttls = false;
    bool eightbitmime = false;
    bool smtputf8 = false;
    bool dsn = false;
    bool chunking = false;
    bool binarymime = false;
    bool enhancedstatuscodes = false;
    bool auth_plain = false;  // AUTH PLAIN offered
    bool auth_login = false;  // AUTH LOGIN offered
    bool has_size = false;    // SIZE announced
    std::uint64_t size = 0;   // SIZE limit; 0 = none given
};

// From a 250 EHLO reply (first line is the greeting, the rest keywords with parameters).
Extensions parse_ehlo(const ServerReply& r);

}  // namespace sluice::delivery
