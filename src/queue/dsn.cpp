// dsn.cpp: DSN composition (see dsn.hpp).
#include "queue/dsn.hpp"

#include <fmt/format.h>

#include "common/date.hpp"

namespace sluice::queue {
namespace {

std::string_view action_name(DsnAction a) {
    switch (a) {
        case DsnAction::failed:
            return "failed";
        case DsnAction::delayed:
            return "delayed";
        case DsnAction::delivered:
            return "delivered";
        case DsnAction::relayed:
            return "relayed";
    }
    return "failed";
}

// The header block of a CRLF message (up to and including the empty line, or all of it).
std::string_view header_of(std::string_view m) {
    auto end = m.find("\r\n\r\n");
    if (end == std::string_view::npos) return m;
    return m.substr(0, end + 2);
}

bool is_8bit(std::string_view s) {
    for (unsigned char c : s)
        if (c >= 0x80) return true;
    return false;
}

}  // namespace

std::string one_line(std::string_view text, std::size_t max) {
    std::string out;
    out.reserve(std::min(text.size(), max));
    for (char c : text) {
        if (out.size() >= max) break;
        const auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f) ? ' ' : c;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

spool::StoredMessage make_dsn(const spool::StoredMessage& original, const DsnRequest& req,
                              const std::string& id) {
    const Envelope& env = original.envelope;
    const std::int64_t now_s = req.now_us / 1000000;
    const std::string date = rfc5322_date(now_s);
    const bool global = env.smtputf8;  // RFC 6533: addresses may be UTF-8
    const std::string boundary = fmt::format("{}=/{}", id, req.hostname);

    bool any_failed = false, any_delayed = false;
    for (const auto& r : req.recipients) {
        any_failed |= r.action == DsnAction::failed;
        any_delayed |= r.action == DsnAction::delayed;
    }
    const char* subject = any_failed    ? "Undelivered Mail Returned to Sender"
                          : any_delayed ? "Delayed Mail (still being retried)"
                                        : "Successful Mail Delivery Report";
    // Failures return the whole message unless the sender asked for headers only; other reports
    // never do (RFC 3461 4.3), nor do binary bodies (they cannot travel inside a MIME part here).
    const bool full = any_failed && env.ret != DsnRet::hdrs && env.body != BodyType::binary_mime;

    std::string m;
    m += fmt::format("Date: {}\r\n", date);
    m += fmt::format("From: Mail Delivery System <MAILER-DAEMON@{}>\r\n", req.hostname);
    m += fmt::format("To: <{}>\r\n", env.sender);
    m += fmt::format("Subject: {}\r\n", subject);
    m += fmt::format("Message-ID: <{}.dsn@{}>\r\n", id, req.hostname);
    m += "Auto-Submitted: auto-replied\r\n";
    m += "MIME-Version: 1.0\r\n";
    m += fmt::format("Content-Type: multipart/report; report-type={}; boundary=\"{}\"\r\n",
                     global ? "global-delivery-status" : "delivery-status", boundary);
    m += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

    // 1. For people.
    m += fmt::format("--{}\r\n", boundary);
    m += fmt::format("Content-Type: text/plain; charset={}\r\n", global ? "utf-8" : "us-ascii");
    m += "Content-Description: Notification\r\n\r\n";
    m += fmt::format("This is the mail system at host {}.\r\n\r\n", req.hostname);
    if (any_failed)
        m += "Your message could not be delivered to one or more recipients.\r\n"
             "The reasons are given below.\r\n\r\n";
    else if (any_delayed)
        m += "Your message has not been delivered yet to one or more recipients.\r\n"
             "Delivery will be retried; you do not need to send it again.\r\n\r\n";
    else
        m += "Your message was delivered to the recipients below, as you asked.\r\n\r\n";
    for (const auto& r : req.recipients) {
        m += fmt::format("<{}>: {}", r.address, action_name(r.action));
        if (!r.diagnostic.empty())
            m += fmt::format(", {}{}", r.remote_mta.empty() ? "" : r.remote_mta + " said: ",
                             one_line(r.diagnostic));
        m += "\r\n";
    }
    m += "\r\n";

    // 2. For programs (RFC 3464).
    m += fmt::format("--{}\r\n", boundary);
    m += fmt::format("Content-Type: message/{}\r\n",
                     global ? "global-delivery-status" : "delivery-status");
    m += "Content-Description: Delivery report\r\n\r\n";
    m += fmt::format("Reporting-MTA: dns; {}\r\n", req.hostname);
    if (!env.envid.empty()) m += fmt::format("Original-Envelope-Id: {}\r\n", one_line(env.envid));
    if (env.received_at_us)
        m += fmt::format("Arrival-Date: {}\r\n", rfc5322_date(env.received_at_us / 1000000));
    for (const auto& r : req.recipients) {
        m += "\r\n";
        m += fmt::format("Final-Recipient: {}; {}\r\n",
                         global && is_8bit(r.address) ? "utf-8" : "rfc822", r.address);
        if (!r.orcpt.empty()) m += fmt::format("Original-Recipient: {}\r\n", one_line(r.orcpt));
        m += fmt::format("Action: {}\r\n", action_name(r.action));
        m += fmt::format("Status: {}\r\n", r.status);
        if (!r.remote_mta.empty()) m += fmt::format("Remote-MTA: dns; {}\r\n", r.remote_mta);
        if (!r.diagnostic.empty())
            m += fmt::format("Diagnostic-Code: smtp; {}\r\n", one_line(r.diagnostic));
        m += fmt::format("Last-Attempt-Date: {}\r\n", date);
        if (r.action == DsnAction::delayed && req.retry_until_us)
            m += fmt::format("Will-Retry-Until: {}\r\n",
                             rfc5322_date(*req.retry_until_us / 1000000));
    }
    m += "\r\n";

    // 3. The original message, or its header.
    m += fmt::format("--{}\r\n", boundary);
    if (full) {
        m += fmt::format("Content-Type: message/{}\r\n", global ? "global" : "rfc822");
        m += "Content-Description: Undelivered Message\r\n\r\n";
        m += original.message;
        if (m.size() < 2 || m.compare(m.size() - 2, 2, "\r\n") != 0) m += "\r\n";
    } else {
        m += fmt::format("Content-Type: {}\r\n",
                         global ? "message/global-headers" : "text/rfc822-headers");
        m += "Content-Description: Message Headers\r\n\r\n";
        m += header_of(original.message);
    }
    m += fmt::format("\r\n--{}--\r\n", boundary);

    spool::StoredMessage dsn;
    Envelope& e = dsn.envelope;
    e.queue_id = id;
    e.sender = "";  // RFC 5321 4.5.5: notifications use the null reverse-path
    e.recipients.push_back(EnvelopeRecipient{env.sender, {}, 0});
    e.helo = req.hostname;
    e.client_ip = "127.0.0.1";
    e.listener = "dsn";
    e.protocol = "ESMTP";
    e.body = is_8bit(m) ? BodyType::eight_bit_mime : BodyType::seven_bit;
    e.smtputf8 = env.smtputf8;
    e.received_at_us = req.now_us;
    dsn.message = std::move(m);
    return dsn;
}

}  // namespace sluice::queue
