// format_test.cpp: the queue file format: every field round-trips, and every kind of damage
// (truncation at any offset, any flipped byte, bad structure) is rejected without crashing.
#include "spool/format.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <random>
#include <string>

namespace sluice::spool {
namespace {

std::string binary_message() {
    std::string m = "Received: from x\r\nSubject: t\r\n\r\nline\r\nbare\nlone\rNUL:";
    m.push_back('\0');
    m += "8bit:";
    for (int c = 0x80; c <= 0xff; ++c) m.push_back(static_cast<char>(c));
    m += "\r\n.\r\n";
    return m;
}

StoredMessage full_message() {
    StoredMessage m;
    Envelope& e = m.envelope;
    e.queue_id = "0123456789ABCDEF";
    e.sender = "s\xc3\xa9nder@example.org";
    e.recipients.push_back(
        {"a@example.com", "rfc822;a@example.com", notify_success | notify_failure});
    e.recipients.push_back({"b@example.com", "", 0});
    e.recipients.push_back({"postmaster", "utf-8;x\\x{41}", notify_never});
    e.helo = "client.example";
    e.client_ip = "2001:db8::1";
    e.listener = "submission";
    e.protocol = "UTF8SMTPSA";
    e.body = BodyType::binary_mime;
    e.smtputf8 = true;
    e.ret = DsnRet::hdrs;
    e.envid = "env+2Bid";
    e.received_at_us = 1700000000123456;
    m.message = binary_message();
    return m;
}

std::string rec(char type, std::string_view payload) {
    return std::string(1, type) + std::to_string(payload.size()) + ":" + std::string(payload) +
           "\n";
}

// Appends a correct END record, so a test can check what decode thinks of the records themselves.
std::string seal(const std::string& body) {
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08lx", crc);
    return body + rec('Z', hex);
}

std::string envelope_records(bool with_rcpt = true) {
    std::string s = rec('I', "0123456789ABCDEF") + rec('S', "a@b");
    if (with_rcpt) s += rec('R', "c@d") + rec('O', "") + rec('N', "0");
    s += rec('H', "h") + rec('C', "127.0.0.1") + rec('L', "mx") + rec('P', "ESMTP") +
         rec('B', "0") + rec('U', "0") + rec('T', "0") + rec('E', "") + rec('A', "1");
    return s;
}

const std::string kMagic = "SLUICE-QUEUE 1\n";

TEST(Format, RoundTripsEveryField) {
    StoredMessage m = full_message();
    std::string file = encode(m);
    std::string error;
    auto d = decode(file, &error);
    ASSERT_TRUE(d) << error;
    EXPECT_EQ(d->envelope, m.envelope);
    EXPECT_EQ(d->message, m.message);
    EXPECT_EQ(d->message.size(), m.message.size());
}

TEST(Format, RoundTripsDefaultsAndEmptyStrings) {
    StoredMessage m;
    m.envelope.queue_id = "0000000000000000";
    m.envelope.recipients.push_back({"x@y", "", 255});
    m.envelope.received_at_us = -5;
    auto d = decode(encode(m));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->envelope, m.envelope);
    EXPECT_EQ(d->message, "");
}

TEST(Format, HandBuiltFileDecodes) {
    auto d = decode(seal(kMagic + envelope_records() + rec('M', "hi")));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->envelope.recipients.at(0).address, "c@d");
    EXPECT_EQ(d->message, "hi");
}

TEST(Format, TruncationAtEveryOffsetFails) {
    std::string file = encode(full_message());
    for (std::size_t n = 0; n < file.size(); ++n) {
        EXPECT_FALSE(decode(std::string_view(file).substr(0, n))) << "length " << n;
    }
}

TEST(Format, FlippedByteAnywhereFails) {
    std::string file = encode(full_message());
    for (std::size_t i = 0; i < file.size(); ++i) {
        for (unsigned char mask : {0x01, 0x20, 0x80, 0xff}) {
            std::string bad = file;
            bad[i] = static_cast<char>(bad[i] ^ mask);
            EXPECT_FALSE(decode(bad)) << "offset " << i << " mask " << int(mask);
        }
    }
}

TEST(Format, BadMagicOrVersionFails) {
    std::string body = envelope_records() + rec('M', "x");
    EXPECT_TRUE(decode(seal(kMagic + body)));
    EXPECT_FALSE(decode(seal("SLUICE-QUEUE 2\n" + body)));
    EXPECT_FALSE(decode(seal("SLUICE-QUEUE 1\r\n" + body)));
    EXPECT_FALSE(decode(seal("POSTFIX\n" + body)));
    EXPECT_FALSE(decode(""));
}

TEST(Format, UnknownRecordTypeFails) {
    std::string error;
    EXPECT_FALSE(decode(seal(kMagic + envelope_records() + rec('X', "?") + rec('M', "x")), &error));
    EXPECT_FALSE(decode(seal(kMagic + envelope_records() + rec('x', "?") + rec('M', "x"))));
    EXPECT_FALSE(decode(seal(kMagic + rec('\0', "") + envelope_records() + rec('M', "x"))));
}

TEST(Format, LengthsBeyondTheFileFail) {
    std::string good = kMagic + envelope_records();
    EXPECT_FALSE(decode(seal(good + "M99:x\n")));
    EXPECT_FALSE(decode(seal(good + "M999999999999:x\n")));
    EXPECT_FALSE(decode(seal(good + "M18446744073709551615:x\n")));
    EXPECT_FALSE(decode(kMagic + envelope_records() + rec('M', "x") + "Z9:00000000\n"));
    EXPECT_FALSE(decode(kMagic + envelope_records() + rec('M', "x") + "Z99999999999999999999"));
}

TEST(Format, MalformedHeadersFail) {
    std::string env = envelope_records();
    EXPECT_FALSE(decode(seal(kMagic + env + "M:x\n")));    // no length
    EXPECT_FALSE(decode(seal(kMagic + env + "M01:x\n")));  // leading zero
    EXPECT_FALSE(decode(seal(kMagic + env + "M1x\n")));    // no colon
    EXPECT_FALSE(decode(seal(kMagic + env + "M1:xy")));    // no newline
    EXPECT_FALSE(decode(seal(kMagic + env + "M-1:x\n")));  // sign
    EXPECT_FALSE(decode(seal(kMagic + env + rec('M', "x") + "\n")));
}

TEST(Format, MissingRequiredFieldsFail) {
    const std::string all = envelope_records();
    // Dropping any one envelope record must fail.
    std::size_t pos = 0;
    int dropped = 0;
    while (pos < all.size()) {
        std::size_t colon = all.find(':', pos);
        std::size_t len = std::stoul(all.substr(pos + 1, colon - pos - 1));
        std::size_t end = colon + 1 + len + 1;
        std::string without = all.substr(0, pos) + all.substr(end);
        EXPECT_FALSE(decode(seal(kMagic + without + rec('M', "x")))) << "without " << all[pos];
        ++dropped;
        pos = end;
    }
    EXPECT_EQ(dropped, 14);                                   // I S R O N H C L P B U T E A
    EXPECT_FALSE(decode(seal(kMagic + envelope_records())));  // no message
    EXPECT_FALSE(decode(seal(kMagic + envelope_records(false) + rec('M', ""))));  // no recipient
}

TEST(Format, StructureRulesEnforced) {
    std::string env = envelope_records();
    // Duplicates.
    EXPECT_FALSE(decode(seal(kMagic + env + rec('S', "x") + rec('M', "x"))));
    EXPECT_FALSE(decode(seal(kMagic + env + rec('M', "x") + rec('M', "x"))));
    // Records after the message.
    EXPECT_FALSE(decode(seal(kMagic + envelope_records(false) + rec('M', "x") + rec('R', "a") +
                             rec('O', "") + rec('N', "0"))));
    // Recipient parts out of order or missing.
    EXPECT_FALSE(decode(seal(kMagic + env + rec('R', "e") + rec('M', "x"))));
    EXPECT_FALSE(
        decode(seal(kMagic + env + rec('R', "e") + rec('N', "0") + rec('O', "") + rec('M', "x"))));
    EXPECT_FALSE(decode(seal(kMagic + rec('O', "") + env + rec('M', "x"))));
    EXPECT_FALSE(decode(seal(kMagic + env + rec('N', "0") + rec('M', "x"))));
    // Bad numbers.
    EXPECT_FALSE(decode(seal(kMagic + envelope_records(false) + rec('R', "a") + rec('O', "") +
                             rec('N', "256") + rec('M', "x"))));
    std::string bad_body = env;
    bad_body.replace(bad_body.find("B1:0"), 4, "B1:3");
    EXPECT_FALSE(decode(seal(kMagic + bad_body + rec('M', "x"))));
    std::string bad_time = env;
    bad_time.replace(bad_time.find("A1:1"), 4, "A2:1x");
    EXPECT_FALSE(decode(seal(kMagic + bad_time + rec('M', "x"))));
}

TEST(Format, TrailingGarbageAfterEndFails) {
    std::string file = encode(full_message());
    EXPECT_FALSE(decode(file + "\n"));
    EXPECT_FALSE(decode(file + "Z8:00000000\n"));
    std::string twice = file + file;
    EXPECT_FALSE(decode(twice));
}

TEST(Format, EndRecordMustBeWellFormed) {
    std::string body = kMagic + envelope_records() + rec('M', "x");
    std::string sealed = seal(body);
    std::string upper = sealed;
    for (std::size_t i = body.size() + 3; i < upper.size() - 1; ++i) {
        upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
    }
    if (upper != sealed) {
        EXPECT_FALSE(decode(upper));
    }
    EXPECT_FALSE(decode(body + "Z7:0000000\n"));
    EXPECT_FALSE(decode(body));
}

// A cheap stand-in for the fuzzer: random mutations of a valid file never crash or pass.
TEST(Format, RandomMutationsNeverCrash) {
    const std::string file = encode(full_message());
    std::mt19937 rng(12345);
    for (int round = 0; round < 20000; ++round) {
        std::string bad = file;
        int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits; ++e) {
            std::size_t at = rng() % bad.size();
            switch (rng() % 4) {
                case 0:
                    bad[at] = static_cast<char>(rng());
                    break;
                case 1:
                    bad.erase(at, 1 + rng() % 8);
                    break;
                case 2:
                    bad.insert(at, 1, static_cast<char>(rng()));
                    break;
                default:
                    bad.resize(at);
                    break;
            }
            if (bad.empty()) bad = "S";
        }
        auto d = decode(bad);
        if (d) {
            // Only possible if the mutations cancelled out.
            EXPECT_EQ(bad, file);
        }
    }
    for (int round = 0; round < 2000; ++round) {
        std::string junk(rng() % 200, '\0');
        for (char& c : junk) c = static_cast<char>(rng());
        if (round % 2) junk = kMagic + junk;
        EXPECT_FALSE(decode(junk));
    }
}

TEST(Format, ErrorSaysWhat) {
    std::string error;
    EXPECT_FALSE(decode("nope", &error));
    EXPECT_FALSE(error.empty());
    std::string file = encode(full_message());
    file[file.size() / 2] ^= 1;
    EXPECT_FALSE(decode(file, &error));
    EXPECT_FALSE(error.empty());
}

}  // namespace
}  // namespace sluice::spool
