// fuzz_smtp_transaction.cpp: the SMTP client's transaction (delivery/smtp_transaction.hpp) against
// a peer whose every reply and every write outcome come from the input. Invariants: it ends
// within a bounded number of steps; there is one result per recipient; a recipient whose RCPT
// was refused never ends delivered; the message is written at most once and only after a 354 (or
// as the BDAT chunk after an accepted RCPT); nobody counts as delivered unless the message was
// written and the final reply was 2xx.
#include <string>
#include <vector>

#include "delivery/smtp_transaction.hpp"
#include "fuzz.hpp"

using namespace sluice;
using namespace sluice::delivery;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::uint8_t opts = data[0];
    const std::size_t nrcpt = 1 + (data[1] % 5);
    std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);

    Envelope env;
    env.sender = "a@example.org";
    env.body = (opts & 3) == 0   ? BodyType::binary_mime
               : (opts & 3) == 1 ? BodyType::eight_bit_mime
                                 : BodyType::seven_bit;
    for (std::size_t i = 0; i < nrcpt; ++i)
        env.recipients.push_back({"r" + std::to_string(i) + "@a.test", "", 0});
    Extensions ext;
    ext.esmtp = true;
    ext.pipelining = opts & 4;
    ext.eightbitmime = opts & 8;
    ext.chunking = opts & 16;
    ext.binarymime = opts & 32;
    ext.size = (opts & 64) ? 10 : 0;
    const std::string message = "Subject: x\r\n\r\nbody\xc3\xa9\r\n";

    ClientTransaction t(env, message, ext, "peer[192.0.2.1]");
    std::size_t pos = 0;
    auto byte = [&]() -> std::uint8_t { return pos < in.size() ? in[pos++] : 0xff; };
    static constexpr int kCodes[] = {250, 251, 354, 421, 450, 451, 452, 500, 550, 552, 554, 221};
    std::vector<std::size_t> rcpt_refused;
    std::size_t reads = 0, message_writes = 0;
    bool final_ok_after_message = false;
    int steps = 0;
    std::vector<smtp::Reply> envelope_replies;
    while (true) {
        FUZZ_CHECK(++steps < 64);
        const auto s = t.next();
        if (s.action == ClientTransaction::Action::done) break;
        if (s.action == ClientTransaction::Action::write) {
            const bool is_message = s.data && s.bytes != ".\r\n";
            if (is_message) ++message_writes;
            t.written((byte() & 7) != 0);
        } else {
            const std::uint8_t b = byte();
            smtp::Reply r{kCodes[b % 12], "", "x"};
            const bool usable = (b & 0x80) == 0;
            if (s.data && message_writes && r.code / 100 == 2) final_ok_after_message = true;
            if (!s.data) envelope_replies.push_back(r);
            ++reads;
            t.replied(r, usable);
        }
    }
    FUZZ_CHECK(t.done());
    const auto& out = t.results();
    FUZZ_CHECK(out.size() == nrcpt);
    FUZZ_CHECK(message_writes <= 1);
    for (std::size_t i = 0; i < nrcpt; ++i) {
        if (out[i].code / 100 != 2) continue;
        // Delivered: the message went out and the final reply said so.
        FUZZ_CHECK(message_writes == 1 && final_ok_after_message);
        // And the RCPT for it was accepted (its reply is the (i+1)-th envelope reply).
        FUZZ_CHECK(envelope_replies.size() > i + 1 && envelope_replies[i + 1].code / 100 == 2);
        FUZZ_CHECK(envelope_replies[0].code == 250);
    }
    return 0;
}
