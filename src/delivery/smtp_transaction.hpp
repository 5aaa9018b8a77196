// smtp_transaction.hpp: one SMTP client transaction (MAIL, RCPT..., DATA or BDAT) as a state
// machine without I/O, like the server's smtp::Session: the driver (SmtpConnection::send) asks
// next() what to do (write these bytes, read one reply, or done), does it, and reports back with
// written() or replied(). Which commands go in one write (RFC 2920 PIPELINING), when to stop early
// without it, when to RSET, and which reply each recipient ends with are decided here, so they
// are unit-tested and fuzzed without a socket.
//
// Results, one per recipient: a refused RCPT keeps its own reply; accepted recipients get the
// reply to the message (or to DATA when the peer refused it); everything gets MAIL's refusal when
// MAIL is refused; a message this peer cannot take (8BITMIME, BINARYMIME, SMTPUTF8, SIZE) is never
// sent and every recipient gets a reply saying why; a lost connection is 421 4.4.2.
//
// SECURITY: replies come from an untrusted peer and only select transitions; no reply can make a
// recipient whose RCPT was refused count as delivered, and the message is written at most once.
// STANDARDS: RFC 5321 3.3, 4.1.1.4; RFC 2920 3.1 (a 354 with no accepted recipient); RFC 3030.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/envelope.hpp"
#include "delivery/smtp_client_reply.hpp"
#include "smtp/reply.hpp"

namespace sluice::delivery {

class ClientTransaction {
  public:
    enum class Action { write, read, done };
    struct Step {
        Action action = Action::done;
        std::string_view bytes{};  // write: valid until the next call on this object
        bool data = false;         // the message itself or its final reply: the data timeout
    };

    // `peer` ("mx.example.net[192.0.2.7]") appears in the replies this side makes up.
    ClientTransaction(const Envelope& env, std::string_view message, const Extensions& ext,
                      std::string peer);

    Step next() const;
    void written(bool ok);  // after a write step: false = the connection is gone
    // After a read step: the reply (the driver's own 421 when reading failed), and whether the
    // connection is still usable.
    void replied(const smtp::Reply& r, bool usable);

    bool done() const { return phase_ == Phase::done; }
    // One per recipient of the envelope; complete once done().
    const std::vector<smtp::Reply>& results() const { return out_; }

  private:
    enum class Phase {
        envelope_write,
        envelope_read,
        data_write,
        final_read,
        rset_write,
        rset_read,
        done
    };

    void envelope_done();
    void rset_then_done();
    void finish(const smtp::Reply& final_reply);
    smtp::Reply lost(std::string_view what = {}) const;
    smtp::Reply expected(const smtp::Reply& r, std::string_view command, int want) const;

    const Envelope& env_;
    std::string_view message_;
    const Extensions& ext_;
    std::string peer_;
    bool eight_bit_ = false;
    bool bdat_ = false;
    bool usable_ = true;
    Phase phase_ = Phase::done;
    std::vector<std::string> cmds_;  // MAIL, RCPT..., DATA (not with BDAT)
    std::string pending_;            // the bytes of the current write step
    std::vector<smtp::Reply> replies_;
    std::size_t expected_ = 0;  // envelope replies the current read phase waits for
    std::vector<std::size_t> accepted_;
    bool empty_message_ = false;  // a 354 with no recipient: "." sent, its reply ignored
    std::vector<smtp::Reply> out_;
};

// Why this message cannot go to a peer with these extensions, if it cannot.
std::optional<smtp::Reply> transaction_refusal(const Envelope& env, std::string_view message,
                                               bool eight_bit, const Extensions& ext,
                                               std::string_view peer);

}  // namespace sluice::delivery
