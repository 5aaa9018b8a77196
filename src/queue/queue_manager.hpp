// queue_manager.hpp: schedules deliveries of committed messages, retries them with backoff, and
// removes a message from the spool only when every recipient's copy is durable.
//
// Delivery runs on its own threads (file I/O never runs on the event loop). A message just committed
// is delivered from its in-memory copy when the backlog is small, else re-read from the spool.
// Retries after a failure, and every first attempt after a restart, look for the copy a previous
// attempt may already have made (Maildir names are deterministic), so a crash between the Maildir
// rename and the spool removal never yields a second copy.
//
// SECURITY: works only on messages already accepted and stored; recipient addresses are turned into
// mailbox paths by the LocalRouter alone.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "delivery/local_router.hpp"
#include "spool/spool.hpp"

namespace sluice::queue {

struct Options {
    unsigned workers = 4;
    config::Duration retry_initial = std::chrono::minutes(5);
    config::Duration retry_max = std::chrono::hours(4);
    config::Duration lifetime = std::chrono::hours(24 * 5);
    std::string hostname;
    bool crlf_to_lf = true;
    std::size_t memory_budget = 128 * 1024 * 1024;  // message bytes kept in memory for delivery
};

// Counters for logs and tests.
struct Stats {
    std::uint64_t delivered_messages = 0;
    std::uint64_t delivered_copies = 0;
    std::uint64_t deferred = 0;
    std::uint64_t failed = 0;
    std::size_t queued = 0;
};

// Backoff for attempt n (1 = after the first failure): initial * 2^(n-1), capped, with +-20% jitter
// (jitter from `random01`, in [0,1)). Pure, for tests.
config::Duration retry_delay(const Options& o, int attempt, double random01);

class QueueManager {
public:
    QueueManager(Options opts, spool::Spool& spool, const delivery::LocalRouter& router);
    ~QueueManager();
    QueueManager(const QueueManager&) = delete;
    QueueManager& operator=(const QueueManager&) = delete;

    // Starts the delivery threads with the entries found by Spool::recover().
    void start(std::vector<spool::QueueEntry> recovered);

    // A message the spool has just made durable.
    void enqueue(std::shared_ptr<const spool::StoredMessage> msg);

    // Makes every deferred message due now.
    void flush();

    // Lets in-flight deliveries finish, then joins the threads. Queued messages stay in the spool.
    void stop();

    Stats stats() const;

private:
    struct Item {
        std::string id;
        std::shared_ptr<const spool::StoredMessage> msg;  // may be null: load from the spool
        std::vector<spool::RecipientStatus> status;       // empty: all pending
        std::int64_t received_at_us = 0;
        bool check_existing = false;
        bool held = false;
    };

    void worker();
    void deliver(Item& item);
    void schedule(Item item, std::int64_t due_us);

    Options opts_;
    spool::Spool& spool_;
    const delivery::LocalRouter& router_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Item> ready_;
    std::multimap<std::int64_t, Item> waiting_;  // by due time (microseconds)
    std::size_t memory_in_use_ = 0;
    bool stopping_ = false;
    Stats stats_;
    std::vector<std::thread> threads_;
};

}  // namespace sluice::queue
