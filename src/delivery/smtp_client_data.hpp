// smtp_client_data.hpp: what the SMTP client sends, built without I/O: the MAIL and RCPT commands
// with their ESMTP parameters, and the message body dot-stuffed with CRLF line endings.
//
// SECURITY: addresses and DSN parameters were validated by our own server when the message was
// accepted (smtp/address, smtp/session); they are passed on as they were received. Message bytes
// are untrusted but only transformed (line endings, dot-stuffing), never interpreted.
// STANDARDS: RFC 5321 4.1.1.2-4 and 4.5.2 (transparency); RFC 1870 SIZE; RFC 6152 8BITMIME;
// RFC 3030 BINARYMIME; RFC 6531 SMTPUTF8; RFC 3461 DSN parameters.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/envelope.hpp"
#include "delivery/smtp_client_reply.hpp"

namespace sluice::delivery {

// The message for DATA: every line ending made CRLF (bare LF and bare CR too), a leading '.'
// doubled, ending with "CRLF.CRLF" (a CRLF is added when the message does not end with one).
std::string dot_stuff(std::string_view message);

// True when any byte is outside 7-bit ASCII or is NUL: the body cannot go as 7BIT.
bool needs_8bit(std::string_view message);

// True when the envelope needs SMTPUTF8 (flagged at MAIL, or a non-ASCII address).
bool needs_smtputf8(const Envelope& env);

// "MAIL FROM:<s> SIZE=n BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x\r\n", with only the parameters the
// peer announced (DSN ones only when it offers DSN).
std::string mail_command(const Envelope& env, std::uint64_t size, bool eight_bit,
                         const Extensions& ext);

// "RCPT TO:<r> NOTIFY=FAILURE,DELAY ORCPT=rfc822;r\r\n" (DSN parameters when the peer offers DSN).
std::string rcpt_command(const EnvelopeRecipient& r, const Extensions& ext);

// "SUCCESS,FAILURE" for a NOTIFY bit set; "" for 0.
std::string notify_string(std::uint8_t notify);

}  // namespace sluice::delivery
