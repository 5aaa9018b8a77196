// chain.hpp: the Policy chain: an ordered list of stages, each asked about the session events it
// cares for, each able to await (a DNS lookup, a milter round trip) without blocking the event
// loop. The SMTP driver (server/connection.cpp) raises the events; the stages decide.
//
// Events, in a session's order: connect (before the greeting), helo (each HELO/EHLO), mail
// (each MAIL FROM), rcpt (each RCPT TO), headers and message (at the end of DATA/BDAT, before the
// Intake commits). Messages are received whole before `headers` today; when they stream to the
// spool (issue 15) `headers` will fire at the blank line that ends them, with the same facts.
//
// A session's stages run one at a time, in order, on its connection's executor: a stage never
// sees two events of one session at once. For each event the chain asks every stage that
// registered for it until one answers something other than `next`:
//   next        go on (optionally adding header fields to the message);
//   accept      stop asking, the event is allowed (an allowlist short-cuts the rest);
//   reply       refuse with the reply (4xx: try later, 5xx: permanent; at rcpt the recipient only);
//   disconnect  send the reply (if any; code 0: none) and close the connection.
// When every stage says `next`, the event is allowed. The chain built by default
// (server/policies.cpp) always ends the rcpt event with the recipient stage, which refuses
// unknown local users and relaying for clients without permission: never an open relay.
//
// Stages are shared by all sessions; a stage that keeps state per session (a milter connection)
// makes it in open() and finds it again in Facts::state.
//
// SECURITY: Facts carry client-supplied data already validated by the SMTP session's parsers;
// stages treat it as data. A stage that throws is a temporary failure of the event (451), never
// an acceptance.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/user_store.hpp"
#include "common/cidr.hpp"
#include "common/envelope.hpp"
#include "smtp/address.hpp"
#include "smtp/reply.hpp"

namespace sluice::policy {

enum class Event : std::uint8_t { connect, helo, mail, rcpt, headers, message };
inline constexpr std::size_t kEvents = 6;

using EventMask = std::uint8_t;
constexpr EventMask mask(Event e) {
    return static_cast<EventMask>(1u << static_cast<unsigned>(e));
}
template <typename... E>
constexpr EventMask mask(Event e, E... more) {
    return static_cast<EventMask>(mask(e) | mask(more...));
}

std::string_view event_name(Event e);

struct Verdict {
    enum class Action : std::uint8_t { next, accept, reply, disconnect };
    Action action = Action::next;
    smtp::Reply reply{};                 // reply, disconnect (code 0: close without a word)
    std::string_view reason{};           // short and stable, for the refusal log ("relay_denied")
    std::vector<std::string> headers{};  // next/accept: fields ("Name: value\r\n") to add

    static Verdict next() { return {}; }
    static Verdict accept() { return {Action::accept}; }
    static Verdict refuse(smtp::Reply r, std::string_view reason) {
        return {Action::reply, std::move(r), reason};
    }
    static Verdict tempfail(std::string text, std::string_view reason) {
        return {Action::reply, smtp::Reply{451, "4.7.1", std::move(text)}, reason};
    }
    static Verdict disconnect(smtp::Reply r, std::string_view reason) {
        return {Action::disconnect, std::move(r), reason};
    }
    bool allows() const { return action == Action::next || action == Action::accept; }
};

// Per-session state a stage made in open().
class StageState {
  public:
    virtual ~StageState() = default;
};

// What the session knows, as of the event. Pointers are null before the event that sets them.
// Valid for the duration of one check() (the connection keeps them alive while it awaits).
struct Facts {
    std::uint64_t session = 0;
    std::string_view listener;
    bool submission = false;  // a submission listener (587/465): AUTH required for MAIL
    std::string_view client_ip;
    std::optional<IpAddress> client_addr;
    std::uint16_t client_port = 0;
    std::string_view helo;  // from helo on
    bool tls = false;
    bool trusted = false;                      // [access] trusted: may relay without AUTH
    const auth::User* user = nullptr;          // after a successful AUTH
    const Envelope* envelope = nullptr;        // from mail on: the transaction so far
    const smtp::Mailbox* recipient = nullptr;  // rcpt: the recipient asked about
    std::string_view message;  // headers: the header block; message: the whole content
    // The stages' per-session state, by stage position (null where a stage keeps none).
    std::vector<std::unique_ptr<StageState>>* state = nullptr;

    // Trusted network or authenticated user: may relay to other domains.
    bool relay_allowed() const { return trusted || user != nullptr; }
};

class Stage {
  public:
    virtual ~Stage() = default;
    virtual std::string_view name() const = 0;
    // The events this stage is asked about.
    virtual EventMask events() const = 0;
    // Per-session state, made at connect (before any check). Default: none.
    virtual std::unique_ptr<StageState> open(const Facts&) { return nullptr; }
    virtual boost::asio::awaitable<Verdict> check(Event e, const Facts& f) = 0;

    // Stages that read a message's body as it arrives (DKIM body hashes, milter body chunks) say
    // so; the driver then hands them every body byte of each message, in order and in chunks,
    // between the end of its header section and the `message` event, Facts::message being the
    // complete header section. A large body is never held whole: this is the only way a stage
    // sees all of it. Synchronous, on the connection's executor: hash or copy, never wait.
    // A transaction's state starts afresh at `mail` (one message per transaction).
    virtual bool reads_body() const { return false; }
    virtual void body(const Facts&, std::string_view chunk) {}
};

class Chain {
  public:
    void add(std::unique_ptr<Stage> s);
    // Events some stage is asked about: the driver raises only these (the SMTP fast path stays
    // free of coroutine frames for events nobody checks).
    bool wants(Event e) const { return (events_ & mask(e)) != 0; }
    bool reads_body() const { return reads_body_; }
    std::size_t size() const { return stages_.size(); }

    // Makes each stage's per-session state into `f.state` (sized to the chain).
    void open(Facts& f, std::vector<std::unique_ptr<StageState>>& state) const;

    // Asks the stages registered for `e`, in order; headers of `next` verdicts accumulate into
    // the final verdict. A stage that throws: 451 4.3.0, reason "policy_error" (logged).
    boost::asio::awaitable<Verdict> run(Event e, const Facts& f) const;

    // Hands a body chunk to the stages that read bodies (see Stage::reads_body).
    void body(const Facts& f, std::string_view chunk) const;

  private:
    std::vector<std::unique_ptr<Stage>> stages_;
    EventMask events_ = 0;
    bool reads_body_ = false;
};

}  // namespace sluice::policy
