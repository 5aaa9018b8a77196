// queue_filter_test.cpp: operator filters over queue entries (AND of conditions, globs without
// case, recipient conditions on one pending recipient, ages against a given clock).
#include <gtest/gtest.h>

#include <chrono>

#include "queue/queue_filter.hpp"

using namespace sluice;
using namespace std::chrono_literals;
using queue::QueueFilter;

namespace {

constexpr std::int64_t kNow = 1'800'000'000'000'000;  // microseconds

spool::QueueEntry entry(std::string sender, std::vector<std::string> rcpts, std::int64_t age_us) {
    spool::QueueEntry e;
    e.envelope.queue_id = "0123456789ABCDEF";
    e.envelope.sender = std::move(sender);
    for (auto& r : rcpts) e.envelope.recipients.push_back({std::move(r), "", 0});
    e.envelope.received_at_us = kNow - age_us;
    e.recipients.resize(e.envelope.recipients.size());
    return e;
}

}  // namespace

TEST(QueueFilter, EmptyMatchesEverything) {
    QueueFilter f;
    EXPECT_TRUE(f.empty());
    EXPECT_TRUE(matches(f, entry("", {"a@b.test"}, 0), kNow));
}

TEST(QueueFilter, SenderGlobWithoutCaseAndNullSender) {
    QueueFilter f;
    f.sender = "*@Spammer.TEST";
    EXPECT_TRUE(matches(f, entry("x@spammer.test", {"a@b.test"}, 0), kNow));
    EXPECT_FALSE(matches(f, entry("x@spammer.test.example", {"a@b.test"}, 0), kNow));
    f.sender = "<>";
    EXPECT_TRUE(matches(f, entry("", {"a@b.test"}, 0), kNow));
    EXPECT_FALSE(matches(f, entry("x@y.test", {"a@b.test"}, 0), kNow));
}

TEST(QueueFilter, RecipientConditionsLookAtPendingRecipientsOnly) {
    auto e = entry("s@x.test", {"a@gmail.com", "b@other.test"}, 0);
    QueueFilter f;
    f.domain = "GMAIL.com";
    EXPECT_TRUE(matches(f, e, kNow));
    e.recipients[0].state = spool::RecipientState::delivered;
    EXPECT_FALSE(matches(f, e, kNow));  // nothing left to do for gmail.com
    f = {};
    f.recipient = "b@*";
    EXPECT_TRUE(matches(f, e, kNow));
    f.domain = "gmail.com";  // both on the same recipient: b@ is not at gmail.com
    EXPECT_FALSE(matches(f, e, kNow));
}

TEST(QueueFilter, ErrorIsACaseInsensitiveSubstring) {
    auto e = entry("s@x.test", {"a@gmail.com", "b@other.test"}, 0);
    e.recipients[1].last_error = "451 4.7.1 Greylisted, try again";
    QueueFilter f;
    f.error = "greylisted";
    EXPECT_TRUE(matches(f, e, kNow));
    f.domain = "gmail.com";
    EXPECT_FALSE(matches(f, e, kNow));
}

TEST(QueueFilter, AgesAndHeld) {
    auto old = entry("s@x.test", {"a@b.test"}, std::chrono::microseconds(2h).count());
    auto fresh = entry("s@x.test", {"a@b.test"}, std::chrono::microseconds(5min).count());
    QueueFilter f;
    f.older_than = 1h;
    EXPECT_TRUE(matches(f, old, kNow));
    EXPECT_FALSE(matches(f, fresh, kNow));
    f = {};
    f.newer_than = 1h;
    EXPECT_FALSE(matches(f, old, kNow));
    EXPECT_TRUE(matches(f, fresh, kNow));
    f = {};
    f.held = true;
    EXPECT_FALSE(matches(f, old, kNow));
    old.held = true;
    EXPECT_TRUE(matches(f, old, kNow));
    f.held = false;
    EXPECT_FALSE(matches(f, old, kNow));
}
