// fuzz_session.cpp: a whole SMTP session (smtp::Session) driven like the server drives it, with no
// I/O.
//
// Input: the first byte picks the limits and the DSN/STARTTLS/AUTH options; the rest is what a
// client sends, fed in random splits. Every event is answered synchronously: recipients at
// "example.org" are accepted except local parts starting with "x"; every third commit fails (451);
// STARTTLS "succeeds" at once; AUTH accepts only user "good" with password "pw"; senders starting
// with "x" are refused.
// The same input is also run fed whole; both runs must produce the same replies.
//
// Invariants (the promises the server makes to a hostile client):
//  - the output is only well-formed reply lines: 3 digits, then ' ' or '-', printable text, CRLF;
//    a multi-line reply keeps its code and ends with a ' ' line;
//  - no 250 for a refused commit, and a commit is only asked for with a recipient and after the
//    client's end of data;
//  - "queued as" appears exactly once per successful commit;
//  - after "close" nothing more is produced; memory held stays bounded by the limits.
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz.hpp"
#include "smtp/session.hpp"

using namespace sluice::smtp;

namespace {

// Checks that `out` is a sequence of complete, well-formed reply lines.
void check_replies(std::string_view out) {
    std::size_t pos = 0;
    int group_code = -1;  // code of an unfinished multi-line reply
    while (pos < out.size()) {
        auto eol = out.find("\r\n", pos);
        FUZZ_CHECK(eol != std::string_view::npos);
        std::string_view line = out.substr(pos, eol - pos);
        pos = eol + 2;
        FUZZ_CHECK(line.size() >= 3);
        for (int i = 0; i < 3; ++i) FUZZ_CHECK(line[i] >= '0' && line[i] <= '9');
        FUZZ_CHECK(line[0] >= '2' && line[0] <= '5');
        int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (group_code != -1) FUZZ_CHECK(code == group_code);
        FUZZ_CHECK(line.size() == 3 || line[3] == ' ' || line[3] == '-');
        group_code = line.size() > 3 && line[3] == '-' ? code : -1;
        for (unsigned char c : line) FUZZ_CHECK(c >= 0x20 && c != 0x7f);
        FUZZ_CHECK(line.size() <= 1000);
    }
    FUZZ_CHECK(group_code == -1);
}

struct Run {
    std::string replies;
    std::vector<std::string> messages;  // committed (accepted) messages
    std::size_t commits = 0;
    std::size_t accepted = 0;
    std::size_t tls = 0;  // STARTTLS handshakes
    bool closed = false;
};

Run run(std::string_view in, const SessionLimits& limits, std::uint8_t opts,
        sluice::fuzz::Rng* rng) {
    int ids = 0;
    SessionInfo info{"mx.test", "smtp", "192.0.2.1", 4242, (opts & 0x40) != 0};
    info.starttls = (opts & 0x80) != 0;
    info.auth = (opts & 0x20) != 0;
    info.auth_plaintext = (opts & 0x10) != 0;
    Session s(std::move(info), limits);
    s.start();
    Run r;
    std::size_t pos = 0;
    for (int steps = 0;; ++steps) {
        FUZZ_CHECK(steps < 10'000'000);
        Event ev = s.next();
        if (ev == Event::need_input) {
            r.replies += s.output();
            s.output().clear();
            if (pos >= in.size()) break;
            std::size_t n = rng ? rng->chunk(in.size() - pos) : in.size() - pos;
            s.feed(in.substr(pos, n));
            pos += n;
        } else if (ev == Event::check_recipient) {
            const Mailbox& m = s.pending_recipient();
            if (m.domain == "example.org" && !m.local.empty() && m.local[0] != 'x')
                s.recipient_verdict({250, "2.1.5", "Ok"});
            else if (m.domain == "example.org")
                s.recipient_verdict({550, "5.1.1", "User unknown"});
            else
                s.recipient_verdict({550, "5.7.1", "Relay access denied"});
        } else if (ev == Event::commit) {
            PendingMessage& pm = s.pending_message();
            FUZZ_CHECK(!pm.envelope.recipients.empty());
            FUZZ_CHECK(pm.envelope.queue_id.empty());  // the Intake's to assign
            FUZZ_CHECK(!pm.envelope.protocol.empty());
            FUZZ_CHECK(pm.message.size() <= limits.message_size + 4096);
            for (const auto& rc : pm.envelope.recipients)
                FUZZ_CHECK(rc.address.size() > 12 &&
                           rc.address.substr(rc.address.size() - 12) == "@example.org");
            bool fail = (++r.commits % 3) == 0;
            std::size_t before = s.output().size();
            if (fail) {
                s.commit_done({451, "4.3.0", "Local error in processing"});
                std::string_view added(s.output().data() + before, s.output().size() - before);
                FUZZ_CHECK(added == "451 4.3.0 Local error in processing\r\n");
            } else {
                std::string id = "ID" + std::to_string(++ids);
                r.messages.push_back(pm.message);
                s.commit_done({250, "2.0.0", "Ok: queued as " + id});
                ++r.accepted;
            }
            // A second answer to the same commit must change nothing.
            std::size_t after = s.output().size();
            s.commit_done({250, "2.0.0", "Ok: queued as BOGUS"});
            FUZZ_CHECK(s.output().size() == after);
        } else if (ev == Event::starttls) {
            r.replies += s.output();
            s.output().clear();
            // Whatever arrived with STARTTLS was plaintext and must be gone (RFC 3207 4.2, the
            // STARTTLS injection attack); only bytes fed from now on count as encrypted.
            ++r.tls;
            s.tls_started("TLSv1.3 TLS_AES_256_GCM_SHA384");
        } else if (ev == Event::authenticate) {
            const auto& c = s.pending_credentials();
            if (c.authcid == "good" && c.password == "pw")
                s.auth_verdict({235, "2.7.0", "Authentication successful"}, c.authcid);
            else
                s.auth_verdict({535, "5.7.8", "Authentication credentials invalid"}, {});
        } else if (ev == Event::check_sender) {
            const std::string& from = s.envelope().sender;
            if (!from.empty() && from[0] == 'x')
                s.sender_verdict({550, "5.7.1", "Sender refused"});
            else
                s.sender_verdict({250, "2.1.0", "Ok"});
        } else {
            FUZZ_CHECK(ev == Event::close);
            r.replies += s.output();
            s.output().clear();
            r.closed = true;
            FUZZ_CHECK(s.next() == Event::close);
            FUZZ_CHECK(s.output().empty());
            break;
        }
    }
    FUZZ_CHECK(s.messages_accepted() == r.accepted);
    return r;
}

std::size_t count(std::string_view hay, std::string_view needle) {
    std::size_t n = 0;
    for (auto p = hay.find(needle); p != std::string_view::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1 || size > 64 * 1024) return 0;
    SessionLimits limits;
    limits.message_size = 64 + (data[0] & 0x0f) * 64;
    limits.recipients = 1 + ((data[0] >> 4) & 3);
    limits.errors = 5 + (data[0] >> 6) * 5;
    limits.transactions = 4;
    std::uint8_t opts = data[0];
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

    Run whole = run(in, limits, opts, nullptr);
    check_replies(whole.replies);
    FUZZ_CHECK(count(whole.replies, "queued as") == whole.accepted);
    FUZZ_CHECK(count(whole.replies, "queued as BOGUS") == 0);

    sluice::fuzz::Rng rng(in);
    Run split = run(in, limits, opts, &rng);
    check_replies(split.replies);
    FUZZ_CHECK(count(split.replies, "queued as") == split.accepted);
    // A split changes which bytes count as sent after a TLS handshake, so only dialogues without
    // STARTTLS must be split-invariant.
    if (whole.tls != 0 || split.tls != 0) return 0;
    FUZZ_CHECK(split.replies == whole.replies);
    FUZZ_CHECK(split.messages == whole.messages);
    FUZZ_CHECK(split.closed == whole.closed);
    return 0;
}
