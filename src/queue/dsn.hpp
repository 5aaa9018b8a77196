// dsn.hpp: delivery status notifications (bounces, delay warnings, success reports), composed
// without I/O.
//
// One DSN per message and attempt covers every recipient being reported. It comes from
// MAILER-DAEMON@<hostname> with the null reverse-path <> (so it can never cause another DSN), is
// addressed to the original sender, and is a multipart/report: a human-readable part, the
// machine-readable message/delivery-status (with the remote server's reply as Diagnostic-Code),
// and the original message (RET=FULL, the default for failures) or only its header (RET=HDRS, and
// always for delay and success reports, and for binary bodies).
//
// SECURITY: the reported replies come from remote servers and the original message from a client:
// both are untrusted. Reply text is made one line of printable characters, bounded in length, so
// it cannot inject header fields or MIME parts; the boundary contains the fresh queue ID and a
// character ('=') that a base64/xtext body line never starts a boundary with.
// STANDARDS: RFC 3464 (message/delivery-status), RFC 3462/6522 (multipart/report), RFC 3461
// (NOTIFY, RET, ENVID, ORCPT), RFC 3834 (Auto-Submitted), RFC 6533 (message/global-delivery-status
// for SMTPUTF8 messages), RFC 5321 4.5.5 (null reverse-path).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/envelope.hpp"
#include "spool/format.hpp"

namespace sluice::queue {

enum class DsnAction { failed, delayed, delivered, relayed };

struct DsnRecipient {
    std::string address;  // final recipient, as in the envelope
    std::string orcpt;    // RFC 3461 ORCPT as received ("rfc822;a@b"), or empty
    DsnAction action = DsnAction::failed;
    std::string status;      // RFC 3463 code: "5.1.1"
    std::string diagnostic;  // the reply: "550 5.1.1 User unknown" (empty if none)
    std::string remote_mta;  // host that gave the reply, or empty
};

struct DsnRequest {
    std::string hostname;  // ours
    std::int64_t now_us = 0;
    std::vector<DsnRecipient> recipients;
    std::optional<std::int64_t> retry_until_us;  // for "delayed": when we give up
};

// The complete DSN as a message ready for the spool: envelope from <> to the original sender,
// queue ID `dsn_queue_id`, message text with CRLF line endings. The sender must not be <>.
spool::StoredMessage make_dsn(const spool::StoredMessage& original, const DsnRequest& req,
                              const std::string& dsn_queue_id);

// Reply text made safe for one header line: control characters become spaces, at most `max` bytes.
std::string one_line(std::string_view text, std::size_t max = 900);

}  // namespace sluice::queue
