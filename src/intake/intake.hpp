// intake.hpp: the one way into the queue. Every entry point (the SMTP server today, the HTTP
// sending API next) hands a message to Intake::submit(), which
//   1. gives it its queue ID and acceptance time,
//   2. prepends the headers Policy verdicts asked for and our Received trace header,
//   3. runs the modifiers in order (later: DKIM signing, Authentication-Results, milter edits),
//      any of which may refuse the message,
//   4. commits it durably (spool::Spool::commit; the caller's reply waits for the fsync),
//   5. hands it to the queue and records the accounting that follows (rate-limit counters),
// and answers with the reply the entry point gives its client: 250 with the queue ID only after
// step 4 succeeded.
//
// The event loop never waits on the disk: the commit completes on a spool thread and the
// coroutine resumes on the caller's executor. One Intake is shared by every connection; it keeps
// no per-message state, so concurrent submissions need no lock here (the spool and the queue
// serialise what they must).
//
// SECURITY: the envelope and content come from untrusted clients but were validated by the entry
// point (the SMTP session's parsers); modifiers must treat them as data. A modifier that fails
// refuses the message (temporarily unless it says otherwise): nothing half-edited is committed.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/envelope.hpp"
#include "policy/rate_limit.hpp"
#include "smtp/reply.hpp"
#include "spool/spool.hpp"
#include "trust/dkim_sign.hpp"

namespace sluice::intake {

// A message as an entry point hands it over.
struct Submission {
    Envelope envelope;    // validated; queue_id and received_at_us are set by the Intake
    std::string content;  // the message as received (CRLF lines), without our trace header
    std::string tls;      // "TLSv1.3 TLS_AES_256_GCM_SHA384" for the Received header, or ""
    std::vector<std::string> headers;  // complete fields ("Name: value\r\n") to add on top
    std::string user;                  // the authenticated user, "" for none (accounting, logs)
    std::uint64_t session = 0;         // the entry point's session number, for logs (0: none)
    // A large message's body, streamed into the spool while it arrived; `content` is then only
    // the header section (and the message is content followed by it).
    std::shared_ptr<spool::IncomingBody> body{};
    // Our own sender (an authenticated user, a trusted network, the HTTP API): its mail is signed,
    // not judged.
    bool local_sender = false;
    // For a streamed body of a local sender, when Intake::needs_body_hash(): the DKIM body hash
    // (relaxed, sha256) the entry point computed while the body arrived; the body is not in
    // memory to hash at submit time.
    std::string body_hash{};
};

// The message while modifiers work on it: the full content (trace header first) and the envelope.
// For a streamed message (submission.body) `message` ends with the header section; the body is in
// the spool (a modifier that needs it reads it there, or was fed it while it arrived).
struct Draft {
    Envelope& envelope;
    std::string& message;
    const Submission& submission;  // who sent it (user, session); content already moved out
    // Where the content as the client sent it starts in `message` (after the fields this hop
    // added: policy verdicts' headers and our Received). A modifier that edits what the client
    // wrote (removing forged fields) works from here and keeps it up to date.
    std::size_t content_start = 0;
};

// A step that edits or judges a message after its queue ID and trace header exist and before it
// is committed. Runs on the submitting connection's executor; may await (a signing pool, a
// socket), never block.
class Modifier {
  public:
    virtual ~Modifier() = default;
    virtual std::string_view name() const = 0;
    // nullopt: go on. A reply: the message is refused with it (not committed).
    virtual boost::asio::awaitable<std::optional<smtp::Reply>> modify(Draft& draft) = 0;
    // Whether this modifier needs Submission::body_hash for the streamed bodies of local senders.
    virtual bool needs_body_hash() const { return false; }
};

// DKIM-signs the mail of local senders (Submission::local_sender) whose From domain, or the
// closest parent of it, has keys: one DKIM-Signature per key (rsa and ed25519 side by side),
// relaxed/relaxed, signed once here so retries and every recipient carry the same signature.
std::unique_ptr<Modifier> dkim_signer(std::vector<trust::dkim::SigningKey> keys);

// Removes every Authentication-Results field carrying `authserv_id` from the client's header
// section (RFC 8601 5: a forged "pass" in our name must not be believed), ours above it staying.
std::unique_ptr<Modifier> strip_forged_results(std::string authserv_id);

struct Result {
    smtp::Reply reply;        // 250 2.0.0 "Ok: queued as ID"; 451/452 when not stored; a refusal
    std::string queue_id;     // set once assigned (also on failure, for the log)
    std::string_view reason;  // for a refusal's log line: "not_stored" or the modifier's name
    bool ok() const { return reply.positive(); }
};

class Intake {
  public:
    struct Options {
        std::string hostname;  // our name in the Received header
    };
    using Enqueue = std::function<void(std::shared_ptr<const spool::StoredMessage>)>;

    // `enqueue` hands a committed message to the scheduler; `limiter` (may be null) is charged
    // one message and its recipients after each commit.
    Intake(Options opts, spool::Spool& spool, Enqueue enqueue, policy::RateLimiter* limiter);

    // Modifiers run in the order added. Add them before the first submit().
    void add_modifier(std::unique_ptr<Modifier> m) {
        needs_body_hash_ = needs_body_hash_ || m->needs_body_hash();
        modifiers_.push_back(std::move(m));
    }
    // Entry points compute Submission::body_hash for local senders' streamed bodies when true.
    bool needs_body_hash() const { return needs_body_hash_; }

    // Completes on the caller's executor after the commit succeeded or failed.
    boost::asio::awaitable<Result> submit(Submission s);

    // The complete message as it will be stored: the added headers, our Received, then the
    // content (moved out of `s`). Pure; public for tests.
    std::string assemble(const Envelope& env, Submission& s) const;

  private:
    Options opts_;
    spool::Spool& spool_;
    Enqueue enqueue_;
    policy::RateLimiter* limiter_;
    std::vector<std::unique_ptr<Modifier>> modifiers_;
    bool needs_body_hash_ = false;
};

}  // namespace sluice::intake
