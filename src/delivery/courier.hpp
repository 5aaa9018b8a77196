// courier.hpp: the interface between the queue manager and remote delivery.
//
// The queue hands a courier one message and the recipients of one domain; the courier reports one
// reply per recipient, later, from whatever thread it runs on. The queue does not know how (SMTP
// over the event loop: delivery/smtp_courier), so its scheduling is tested with a fake courier.
//
// SECURITY: jobs carry messages already accepted and stored; replies come from remote servers and
// are only recorded, logged and quoted in DSNs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "smtp/reply.hpp"
#include "spool/format.hpp"

namespace sluice::delivery {

struct RemoteJob {
    std::shared_ptr<const spool::StoredMessage> msg;
    std::string domain;              // lower-case recipient domain
    std::vector<std::size_t> rcpts;  // indexes into msg->envelope.recipients, all in `domain`
};

struct RemoteRcptResult {
    std::size_t index = 0;
    smtp::Reply reply;        // 2xx delivered; 4xx try again; 5xx permanent
    bool dsn_passed = false;  // the peer took our NOTIFY/ORCPT: later DSNs are its business
};

struct RemoteResult {
    std::vector<RemoteRcptResult> rcpts;
    std::string mx;  // host name of the server that answered last ("" if none was reached)
    std::string ip;
    std::string tls;  // "TLSv1.3 TLS_AES_..." or ""
    std::int64_t duration_ms = 0;
};

class RemoteCourier {
  public:
    virtual ~RemoteCourier() = default;
    // Never blocks; `done` is called exactly once, on any thread.
    virtual void deliver(RemoteJob job, std::function<void(RemoteResult)> done) = 0;
};

}  // namespace sluice::delivery
