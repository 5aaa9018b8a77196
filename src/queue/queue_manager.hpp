// queue_manager.hpp: schedules deliveries of committed messages, retries them with backoff,
// bounces what cannot be delivered, and removes a message from the spool only when every
// recipient has a final state (delivered, or failed and reported to the sender).
//
// Each recipient is routed on its own to a Transport (delivery/transport.hpp): local domains to the
// local one (Maildir, on its own threads: file I/O never runs on the event loop), other domains
// grouped by domain to the remote one (SMTP on the event loop), one job per domain. Every
// transport answers per recipient (delivered, temporary, permanent, with the reply); when every
// part of an attempt has answered, a queue thread records the per-recipient states in the spool,
// schedules the next attempt (exponential backoff with jitter), and writes one DSN per message
// covering every recipient that failed (or, when asked with NOTIFY, was delivered or delayed) in
// that attempt.
//
// A message just committed is delivered from its in-memory copy when the backlog is small, else
// re-read from the spool. Retries, and every first attempt after a restart, look for the Maildir
// copy a previous attempt may already have made (names are deterministic), so a crash between the
// Maildir rename and the spool update never yields a second local copy. A remote copy can be
// delivered twice only when the process dies between the peer's 250 and the status record (fsync'ed
// at once), a window of one disk write.
//
// SECURITY: works only on messages already accepted and stored; recipient addresses are turned into
// mailbox paths by the LocalRouter alone. No DSN is ever sent about a message whose sender is <>.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "delivery/local_router.hpp"
#include "delivery/transport.hpp"
#include "spool/spool.hpp"

namespace sluice::queue {

struct Options {
    unsigned workers = 2;  // queue threads: dispatch attempts, record results, write DSNs
    config::Duration retry_initial = std::chrono::minutes(5);
    config::Duration retry_max = std::chrono::hours(4);
    config::Duration lifetime = std::chrono::hours(24 * 5);
    std::string hostname;
    int nice = 0;         // CPU priority of the queue threads (0..19; higher: lower)
    unsigned batch = 32;  // ready messages (and finished attempts) a queue thread takes at once
    std::size_t memory_budget = 128 * 1024 * 1024;  // message bytes kept in memory for delivery
    std::optional<config::Duration> delay_warning;  // "delayed" DSN after this long; none = never
    delivery::Transport* local = nullptr;           // local domains (required)
    delivery::Transport* remote = nullptr;          // null: non-local recipients fail (no relay)
};

// The options a server runs with: [delivery], [queue] and the hostname from the configuration.
Options options_from(const config::Config& cfg, delivery::Transport* local,
                     delivery::Transport* remote);

// Counters for logs and tests.
struct Stats {
    std::uint64_t delivered_messages = 0;
    std::uint64_t delivered_copies = 0;
    std::uint64_t deferred = 0;
    std::uint64_t failed = 0;
    std::uint64_t bounces = 0;  // DSNs generated
    std::size_t queued = 0;
};

// The answer to an operator command (control socket): ok, and a one-line message for the operator.
struct AdminResult {
    bool ok = false;
    std::string message;
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

    // Makes every deferred message due now; returns how many were waiting.
    std::size_t flush();

    // Operator commands (control socket). Thread-safe and serialised; they read and write the
    // spool, so never call them on the event loop. `id` must be a valid queue ID.
    //   flush(id):   makes one deferred message due now.
    //   hold(id):    takes the message out of scheduling and marks it held in the spool (a restart
    //                keeps it held). An attempt in progress finishes; the message is not retried.
    //   release(id): clears the held mark and makes the message due now.
    //   remove(id):  takes the message out of scheduling and removes it from the spool, without a
    //                DSN. An attempt in progress finishes (copies already made stay) and then the
    //                message is removed instead of being recorded, reported or retried.
    [[nodiscard]] AdminResult flush(const std::string& id);
    [[nodiscard]] AdminResult hold(const std::string& id);
    [[nodiscard]] AdminResult release(const std::string& id);
    [[nodiscard]] AdminResult remove(const std::string& id);

    // Lets in-flight deliveries finish, then joins the threads. Queued messages stay in the spool.
    void stop();

    Stats stats() const;

  private:
    // What happened to one recipient in the attempt under way.
    struct Outcome {
        bool attempted = false;
        bool ok = false;
        bool permanent = false;
        bool remote = false;
        bool dsn_passed = false;  // remote peer took NOTIFY/ORCPT: it reports from now on
        smtp::Reply reply;        // the (remote or local) reply; text for logs and DSNs
        std::string remote_mta;   // "mx.example.net" for DSNs
    };

    struct Item {
        std::string id;
        std::shared_ptr<const spool::StoredMessage> msg;  // may be null: load from the spool
        std::vector<spool::RecipientStatus> status;       // empty: all pending
        std::int64_t received_at_us = 0;
        bool check_existing = false;
        bool held = false;
        bool delay_warned = false;  // the "delayed" DSN was sent (kept in the spool: W record)
        // During an attempt (guarded by mu_ while transports answer):
        std::vector<Outcome> outcomes;
        std::vector<delivery::Result> remote_results;  // for the per-recipient relay log lines
        std::size_t pending = 0;                       // transport jobs not answered yet
        std::size_t held_bytes = 0;
    };

    void worker();
    // Loads the message, routes each pending recipient and hands the jobs to the transports.
    void begin_attempt(Item item);
    // One transport job answered; the last one queues the attempt for finalize().
    void part_done(const std::shared_ptr<Item>& item, bool remote, delivery::Result r);
    void finalize(Item& item, const std::shared_ptr<const spool::StoredMessage>& msg);
    // Writes the DSN this attempt calls for, if any. False only when one was due but not stored.
    bool send_dsn(const spool::StoredMessage& msg, Item& item, std::int64_t now);
    // Takes the message out of the spool (its job is done, or the operator deleted it) and, with
    // count_out, out of stats().queued.
    void forget(const std::string& id, bool count_out = true);
    // What the operator asked about a message while an attempt on it was in progress.
    enum class AdminRequest { none, hold, remove };
    // Ends an attempt: the message is no longer in flight and, unless the operator asked to hold
    // or delete it meanwhile, `next` (if given) is scheduled at `due_us`, under the same lock so an
    // operator command always finds the message either in flight or scheduled.
    AdminRequest end_attempt(const std::string& id, Item* next = nullptr, std::int64_t due_us = 0);
    // Takes a scheduled (ready or waiting) message out of the schedule; mu_ must be held.
    std::optional<Item> take_scheduled(const std::string& id);

    Options opts_;
    spool::Spool& spool_;
    const delivery::LocalRouter& router_;

    // mu_ guards the schedule (ready_, waiting_, completed_), the attempts in flight and the
    // operator's requests about them, the memory budget and the stats, and each in-flight Item's
    // outcomes while transports answer. It is never held across spool or file I/O.
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Item> ready_;
    std::deque<std::shared_ptr<Item>> completed_;  // every transport answered: to finalize
    std::multimap<std::int64_t, Item> waiting_;    // by due time (microseconds)
    std::size_t memory_in_use_ = 0;
    std::set<std::string> in_flight_;         // IDs of the attempts in progress
    std::set<std::string> hold_requested_;    // in flight, held by the operator meanwhile
    std::set<std::string> remove_requested_;  // in flight, deleted by the operator meanwhile
    std::mutex admin_mu_;                     // one operator command at a time
    bool stopping_ = false;
    Stats stats_;
    std::vector<std::thread> threads_;
};

}  // namespace sluice::queue
