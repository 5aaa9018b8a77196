// transport.hpp: the one interface between the queue and every way a message leaves: Maildir
// (delivery/maildir_transport), SMTP relay (delivery/smtp_courier), and LMTP next.
//
// The queue hands a transport one message and some of its recipients (one domain for SMTP, the
// local ones for Maildir); the transport answers later, from whatever thread it runs on, with one
// result per recipient. That per-recipient result is the whole contract:
//   2xx  delivered  (the copy is durable, or the next hop took responsibility)
//   4xx  temporary  (the queue retries with backoff until the message's lifetime ends)
//   5xx  permanent  (the queue bounces it to the sender, DSN)
// each with the reply that explains it (quoted in logs and DSNs). A transport never decides
// retries, bounces or spool state: the queue does, the same way for all of them. So the queue's
// scheduling is tested with a fake transport, and each transport on its own.
//
// SECURITY: jobs carry messages already accepted and stored; replies may come from remote servers
// and are only recorded, logged and quoted in DSNs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/reply.hpp"
#include "spool/format.hpp"

namespace sluice::delivery {

struct Job {
    std::shared_ptr<const spool::StoredMessage> msg;
    std::string domain;              // lower-case recipient domain (SMTP: the route's key)
    std::vector<std::size_t> rcpts;  // indexes into msg->envelope.recipients
    // An earlier attempt (or run) may have delivered some copies already: a transport that can
    // tell (Maildir's deterministic names) must not make a second one.
    bool check_existing = false;
};

enum class Disposition : std::uint8_t { delivered, temporary, permanent };

struct RcptResult {
    std::size_t index = 0;
    smtp::Reply reply;        // see the contract above
    bool dsn_passed = false;  // the next hop took our NOTIFY/ORCPT: later DSNs are its business

    Disposition disposition() const {
        return reply.code >= 200 && reply.code < 300 ? Disposition::delivered
               : reply.code >= 500                   ? Disposition::permanent
                                                     : Disposition::temporary;
    }
};

struct Result {
    std::vector<RcptResult> rcpts;  // one per recipient of the job (a missing one is temporary)
    std::string mx;                 // remote: host name of the server that answered last
    std::string ip;
    std::string tls;  // "TLSv1.3 TLS_AES_..." or ""
    std::int64_t duration_ms = 0;
    std::size_t copies = 0;  // local: mailbox copies made durable (one recipient may have several)
};

class Transport {
  public:
    virtual ~Transport() = default;
    virtual std::string_view name() const = 0;
    // True for transports that hand mail to another server (DSN action "relayed", relay logs).
    virtual bool remote() const = 0;
    // Never blocks; `done` is called exactly once, on any thread, unless the transport is stopped
    // first (then the job is dropped: the message is still in the spool and retried next run).
    virtual void deliver(Job job, std::function<void(Result)> done) = 0;
    // A transport that works on its caller's thread (Maildir without threads of its own) does the
    // jobs handed to it so far here; the queue calls it after handing out a batch. Others: nothing.
    virtual void drain() {}
};

}  // namespace sluice::delivery
