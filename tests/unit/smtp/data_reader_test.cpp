// data_reader_test.cpp: DATA-phase reader tests (end of data, unstuffing, limits, smuggling).
//
// Every input is fed whole, byte by byte and split at every point (short inputs), and must give the
// same result each way. A randomized differential test compares the reader against a reference that
// works on the whole input at once with plain string searches.
// STANDARDS: RFC 5321 4.1.1.4, 4.5.2, 4.5.3.1.6.
#include "smtp/data_reader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace sluice::smtp {
namespace {

using namespace std::string_literals;

struct Limits {
    std::size_t max_size = 1 << 20;
    std::size_t max_line = 1000;
};

struct Outcome {
    std::size_t consumed = 0;
    bool done = false;
    bool bare = false;
    bool nul = false;
    bool too_big = false;
    bool line_too_long = false;
    std::size_t size = 0;
    std::string data;
    bool operator==(const Outcome&) const = default;
};

std::string escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '\r') {
            out += "\\r";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\0') {
            out += "\\0";
        } else {
            out += c;
        }
    }
    return out;
}

void PrintTo(const Outcome& o, std::ostream* os) {
    *os << "{consumed=" << o.consumed << " done=" << o.done << " bare=" << o.bare
        << " nul=" << o.nul << " too_big=" << o.too_big << " line_too_long=" << o.line_too_long
        << " size=" << o.size << " data=\"" << escape(o.data) << "\"}";
}

// Feeds `in` in chunks that end at `cuts` (ascending) and at the end of the input.
Outcome feed_chunks(std::string_view in, const std::vector<std::size_t>& cuts, Limits lim) {
    DataReader r(lim.max_size, lim.max_line);
    Outcome o;
    std::size_t start = 0;
    auto feed_to = [&](std::size_t end) {
        std::string_view chunk = in.substr(start, end - start);
        start = end;
        if (r.done()) {
            EXPECT_EQ(r.feed(chunk), 0u) << "feed after the end consumed bytes";
            return;
        }
        std::size_t n = r.feed(chunk);
        EXPECT_LE(n, chunk.size());
        if (n < chunk.size()) {
            EXPECT_TRUE(r.done()) << "stopped early without reaching the end";
        }
        o.consumed += n;
    };
    for (std::size_t cut : cuts) feed_to(cut);
    feed_to(in.size());
    o.done = r.done();
    o.bare = r.bare_cr_or_lf();
    o.nul = r.nul();
    o.too_big = r.too_big();
    o.line_too_long = r.line_too_long();
    EXPECT_EQ(r.ok(), !o.bare && !o.nul && !o.too_big && !o.line_too_long);
    o.size = r.size();
    o.data = r.data();
    return o;
}

// Feeds the input whole, byte by byte, at every single split point and (for short inputs) at every
// pair of split points; all must agree. Returns the whole-input outcome.
Outcome feed_every_way(std::string_view in, Limits lim = {}) {
    Outcome whole = feed_chunks(in, {}, lim);
    std::vector<std::size_t> bytewise;
    for (std::size_t i = 1; i < in.size(); ++i) bytewise.push_back(i);
    EXPECT_EQ(feed_chunks(in, bytewise, lim), whole) << "byte by byte: " << escape(in);
    if (in.size() <= 400) {
        for (std::size_t i = 0; i <= in.size(); ++i) {
            EXPECT_EQ(feed_chunks(in, {i}, lim), whole) << "split at " << i << ": " << escape(in);
        }
    }
    if (in.size() <= 40) {
        for (std::size_t i = 0; i <= in.size(); ++i) {
            for (std::size_t j = i; j <= in.size(); ++j) {
                EXPECT_EQ(feed_chunks(in, {i, j}, lim), whole)
                    << "split at " << i << "," << j << ": " << escape(in);
            }
        }
    }
    return whole;
}

// A straightforward model: the end is the first "\r\n.\r\n" in "\r\n" + input; the text before it
// is split at every CRLF; each line loses one leading dot and is then checked for CR, LF and NUL.
Outcome reference(std::string_view in, Limits lim) {
    Outcome o;
    std::string prefixed = "\r\n" + std::string(in);
    std::size_t k = prefixed.find("\r\n.\r\n");
    std::string_view body = in;
    if (k != std::string::npos) {
        o.done = true;
        o.consumed = k + 3;
        body = in.substr(0, k);
    } else {
        o.consumed = in.size();
    }
    std::string data;
    std::size_t pos = 0;
    while (pos < body.size() || (!o.done && pos == body.size())) {
        std::size_t e = body.find("\r\n", pos);
        bool complete = e != std::string_view::npos;
        std::string line(body.substr(pos, complete ? e - pos : std::string_view::npos));
        if (!complete && !line.empty() && line.back() == '\r') line.pop_back();  // CR pending
        if (!line.empty() && line[0] == '.') line.erase(0, 1);
        if (line.find('\r') != std::string::npos || line.find('\n') != std::string::npos) {
            o.bare = true;
        }
        if (line.find('\0') != std::string::npos) o.nul = true;
        if ((complete || !line.empty()) && line.size() + 2 > lim.max_line) o.line_too_long = true;
        o.size += line.size() + (complete ? 2 : 0);
        data += line;
        if (!complete) break;
        data += "\r\n";
        pos = e + 2;
    }
    o.too_big = o.size > lim.max_size;
    if (!o.bare && !o.nul && !o.too_big && !o.line_too_long) o.data = data;
    return o;
}

TEST(DataReader, SimpleMessage) {
    std::string in = "Subject: x\r\n\r\nbody\r\n.\r\n";
    Outcome o = feed_every_way(in);
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.consumed, in.size());
    EXPECT_EQ(o.data, "Subject: x\r\n\r\nbody\r\n");
    EXPECT_EQ(o.size, o.data.size());
    EXPECT_FALSE(o.bare || o.nul || o.too_big || o.line_too_long);
}

TEST(DataReader, EmptyMessageIsDotAsFirstLine) {
    Outcome o = feed_every_way(".\r\n");
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.consumed, 3u);
    EXPECT_EQ(o.data, "");
    EXPECT_EQ(o.size, 0u);

    o = feed_every_way(".\r\nQUIT\r\n");
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.consumed, 3u);
    EXPECT_EQ(o.data, "");
}

TEST(DataReader, OneEmptyLine) {
    Outcome o = feed_every_way("\r\n.\r\n");
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.consumed, 5u);
    EXPECT_EQ(o.data, "\r\n");
}

TEST(DataReader, StopsRightAfterTheEndMarker) {
    std::string msg = "a\r\nb\r\n.\r\n";
    std::string next = "MAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\nDATA\r\n";
    Outcome o = feed_every_way(msg + next);
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.consumed, msg.size());
    EXPECT_EQ(o.data, "a\r\nb\r\n");

    DataReader r(1000, 1000);
    EXPECT_EQ(r.feed(msg + next), msg.size());
    EXPECT_EQ(r.feed(next), 0u);
    EXPECT_EQ(r.data(), "a\r\nb\r\n");
}

TEST(DataReader, IncompleteInputIsNotDone) {
    for (std::string in : {"", "a", "a\r", "a\r\n", "a\r\n.", "a\r\n.\r", ".", ".\r", "\r\n.\r"}) {
        Outcome o = feed_every_way(in);
        EXPECT_FALSE(o.done) << escape(in);
        EXPECT_EQ(o.consumed, in.size()) << escape(in);
        EXPECT_FALSE(o.bare) << escape(in);
    }
    DataReader r(1000, 1000);
    EXPECT_EQ(r.feed("a\r\n."), 4u);
    EXPECT_FALSE(r.done());
    EXPECT_EQ(r.feed("\r"), 1u);
    EXPECT_FALSE(r.done());
    EXPECT_EQ(r.feed("\nX"), 1u);
    EXPECT_TRUE(r.done());
    EXPECT_EQ(r.data(), "a\r\n");
}

TEST(DataReader, DotUnstuffing) {
    EXPECT_EQ(feed_every_way("..\r\n.\r\n").data, ".\r\n");
    EXPECT_EQ(feed_every_way("..foo\r\n...\r\n.\r\n").data, ".foo\r\n..\r\n");
    EXPECT_EQ(feed_every_way(". \r\n.\r\n").data, " \r\n");
    EXPECT_EQ(feed_every_way(".x\r\n.\r\n").data, "x\r\n");
    // Only a dot at the start of a line is removed.
    EXPECT_EQ(feed_every_way("a.b.\r\nc\r\n.d\r\n.\r\n").data, "a.b.\r\nc\r\nd\r\n");
    // A stuffed line that looks like the end marker once unstuffed.
    Outcome o = feed_every_way("..\r\nx\r\n.\r\n");
    EXPECT_EQ(o.data, ".\r\nx\r\n");
    EXPECT_EQ(o.size, 6u);
}

TEST(DataReader, DotFollowedByCrCrLfIsBareCrNotEnd) {
    std::string in = "a\r\n.\r\r\nb\r\n.\r\n";
    Outcome o = feed_every_way(in);
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.consumed, in.size());
    EXPECT_TRUE(o.bare);
    EXPECT_EQ(o.data, "");
}

// The SMTP smuggling sequences (RFC 5321 4.5.2 read strictly): none of them may end the data. Each
// is followed by a smuggled second message and then the real end; the reader must consume exactly
// up to the real end and flag the message.
struct Smuggle {
    const char* name;
    std::string seq;
    bool bare;
    bool nul;
};

class DataReaderSmuggling : public testing::TestWithParam<Smuggle> {};

TEST_P(DataReaderSmuggling, DoesNotEndDataAndIsFlagged) {
    const Smuggle& s = GetParam();
    std::string in = "From: a@example.com\r\nSubject: hi\r\n\r\nfirst" + s.seq +
                     "MAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n"
                     "From: ceo@example.com\r\n\r\nsmuggled\r\n.\r\n";
    std::string after = "QUIT\r\n";
    Outcome o = feed_every_way(in + after);
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.consumed, in.size());
    EXPECT_EQ(o.bare, s.bare);
    EXPECT_EQ(o.nul, s.nul);
    EXPECT_FALSE(o.too_big);
    EXPECT_FALSE(o.line_too_long);
    EXPECT_EQ(o.data, "");  // flagged: nothing kept

    // The same sequence without the smuggled message never ends the data.
    std::string alone = "first" + s.seq + "more";
    Outcome partial = feed_every_way(alone);
    EXPECT_FALSE(partial.done);
    EXPECT_EQ(partial.consumed, alone.size());
    EXPECT_EQ(partial.bare, s.bare);
    EXPECT_EQ(partial.nul, s.nul);
}

INSTANTIATE_TEST_SUITE_P(Sequences, DataReaderSmuggling,
                         testing::Values(Smuggle{"lf_dot_lf", "\n.\n", true, false},
                                         Smuggle{"lf_dot_crlf", "\n.\r\n", true, false},
                                         Smuggle{"cr_dot_crlf", "\r.\r\n", true, false},
                                         Smuggle{"crlf_dot_lf", "\r\n.\n", true, false},
                                         Smuggle{"crlf_dot_cr", "\r\n.\r", true, false},
                                         Smuggle{"cr_dot_cr", "\r.\r", true, false},
                                         Smuggle{"crlf_nul_dot_crlf", "\r\n\0.\r\n"s, false, true},
                                         Smuggle{"crlf_dot_nul_crlf", "\r\n.\0\r\n"s, false, true},
                                         Smuggle{"crlf_dot_cr_cr_lf", "\r\n.\r\r\n", true, false}),
                         [](const testing::TestParamInfo<Smuggle>& info) {
                             return std::string(info.param.name);
                         });

TEST(DataReader, CrlfSpaceDotIsOrdinaryText) {
    // " ." at line start is text, and the message stays valid.
    std::string in = "a\r\n .\r\nb\r\n.\r\n";
    Outcome o = feed_every_way(in);
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.data, "a\r\n .\r\nb\r\n");
}

TEST(DataReader, BareCrOrLfBeforeARealEndStillEnds) {
    // The real CRLF.CRLF ends the data even after a bare CR or LF; the message is flagged.
    for (std::string in : {"a\r\r\n.\r\n", "a\n\r\n.\r\n", "\n\r\n.\r\n"}) {
        Outcome o = feed_every_way(in + "NOOP\r\n");
        EXPECT_TRUE(o.done) << escape(in);
        EXPECT_EQ(o.consumed, in.size()) << escape(in);
        EXPECT_TRUE(o.bare) << escape(in);
    }
}

TEST(DataReader, NulIsFlagged) {
    Outcome o = feed_every_way("a\0b\r\n.\r\n"s);
    EXPECT_TRUE(o.done);
    EXPECT_TRUE(o.nul);
    EXPECT_FALSE(o.bare);
    EXPECT_EQ(o.size, 5u);
    EXPECT_EQ(o.data, "");
}

TEST(DataReader, LineLimitAtTheBoundary) {
    Limits lim{.max_size = 1000, .max_line = 10};
    Outcome o = feed_every_way("12345678\r\n.\r\n", lim);  // exactly 10 octets with CRLF
    EXPECT_TRUE(o.done);
    EXPECT_FALSE(o.line_too_long);
    EXPECT_EQ(o.data, "12345678\r\n");

    o = feed_every_way("123456789\r\n.\r\n", lim);  // 11
    EXPECT_TRUE(o.done);
    EXPECT_TRUE(o.line_too_long);
    EXPECT_EQ(o.data, "");
    EXPECT_EQ(o.size, 11u);

    // The stuffed dot does not count (RFC 5321 4.5.3.1.6): 11 octets on the wire, 10 after.
    o = feed_every_way("a\r\n.12345678\r\n.\r\n", lim);
    EXPECT_FALSE(o.line_too_long);
    EXPECT_EQ(o.data, "a\r\n12345678\r\n");
    o = feed_every_way("a\r\n.123456789\r\n.\r\n", lim);
    EXPECT_TRUE(o.line_too_long);

    // A long line later in the message.
    o = feed_every_way("short\r\n123456789\r\nshort\r\n.\r\n", lim);
    EXPECT_TRUE(o.done);
    EXPECT_TRUE(o.line_too_long);

    // RFC default: 1000 octets with CRLF.
    std::string ok_line(998, 'x');
    o = feed_every_way(ok_line + "\r\n.\r\n");
    EXPECT_FALSE(o.line_too_long);
    EXPECT_EQ(o.data, ok_line + "\r\n");
    o = feed_every_way(ok_line + "y\r\n.\r\n");
    EXPECT_TRUE(o.line_too_long);
}

TEST(DataReader, SizeLimitAtTheBoundary) {
    Limits lim{.max_size = 10, .max_line = 1000};
    Outcome o = feed_every_way("12345678\r\n.\r\n", lim);
    EXPECT_TRUE(o.done);
    EXPECT_FALSE(o.too_big);
    EXPECT_EQ(o.size, 10u);
    EXPECT_EQ(o.data, "12345678\r\n");

    o = feed_every_way("123456789\r\n.\r\nNOOP\r\n", lim);
    EXPECT_TRUE(o.done);
    EXPECT_TRUE(o.too_big);
    EXPECT_EQ(o.consumed, 14u);
    EXPECT_EQ(o.size, 11u);
    EXPECT_EQ(o.data, "");

    // Size is counted after unstuffing.
    o = feed_every_way("..2345678\r\n.\r\n", lim);
    EXPECT_FALSE(o.too_big);
    EXPECT_EQ(o.data, ".2345678\r\n");

    // Zero limit: only the empty message fits.
    EXPECT_FALSE(feed_every_way(".\r\n", {.max_size = 0, .max_line = 1000}).too_big);
    EXPECT_TRUE(feed_every_way("\r\n.\r\n", {.max_size = 0, .max_line = 1000}).too_big);
}

TEST(DataReader, KeepsCountingButStopsStoringWhenTooBig) {
    DataReader r(100, 1000);
    std::string line(78, 'x');
    line += "\r\n";
    std::size_t lines = 20000;
    for (std::size_t i = 0; i < lines; ++i) ASSERT_EQ(r.feed(line), line.size());
    EXPECT_EQ(r.feed(".\r\n"), 3u);
    EXPECT_TRUE(r.done());
    EXPECT_TRUE(r.too_big());
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.size(), lines * line.size());
    EXPECT_LE(r.data().capacity(), 200u);  // memory stays bounded by the limit
}

TEST(DataReader, StopsStoringAfterABareLf) {
    DataReader r(1 << 30, 1 << 30);
    r.feed("a\n");
    std::string chunk(1 << 16, 'x');
    for (int i = 0; i < 64; ++i) r.feed(chunk);
    EXPECT_TRUE(r.bare_cr_or_lf());
    EXPECT_LE(r.data().capacity(), 64u);
    EXPECT_EQ(r.size(), 2u + 64 * chunk.size());
}

TEST(DataReader, LargeMessageInRealisticChunks) {
    std::mt19937 rng(7);
    std::string msg;
    std::string expected;
    for (int i = 0; i < 5000; ++i) {
        std::string line(rng() % 120, static_cast<char>('a' + i % 26));
        if (rng() % 10 == 0) line.insert(0, ".");
        expected += line + "\r\n";
        msg += (!line.empty() && line[0] == '.' ? "." : "") + line + "\r\n";
    }
    msg += ".\r\n";
    DataReader r(1 << 24, 1000);
    std::size_t pos = 0;
    while (pos < msg.size()) {
        std::size_t n = std::min<std::size_t>(msg.size() - pos, 1 + rng() % 8192);
        ASSERT_EQ(r.feed(std::string_view(msg).substr(pos, n)), n);
        pos += n;
    }
    EXPECT_TRUE(r.done());
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.data(), expected);
    EXPECT_EQ(r.size(), expected.size());
}

TEST(DataReader, ReferenceAgreesOnKnownCases) {
    // Guards the reference itself, so the differential test below means something.
    Outcome o = reference("..a\r\nb\r\n.\r\nX", {});
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.consumed, 11u);
    EXPECT_EQ(o.data, ".a\r\nb\r\n");
    o = reference("\n.\r\n", {});
    EXPECT_FALSE(o.done);
    EXPECT_TRUE(o.bare);
    o = reference(".\r\n", {});
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.consumed, 3u);
}

TEST(DataReader, RandomizedDifferentialAgainstReference) {
    const std::vector<std::string> pieces = {
        "a",         "b",      ".",       "..",      "\r",
        "\n",        "\r\n",   "\0"s,     "\r\n.",   ".\r",
        "\r\n.\r\n", "\n.\n",  "\r.\r\n", "\r\n.\n", "xxxxxxxxxxxxxxxx",
        " ",         "\r\n..",
    };
    std::mt19937 rng(12345);
    for (int iter = 0; iter < 20000; ++iter) {
        std::string in;
        std::size_t n = rng() % 24;
        for (std::size_t i = 0; i < n; ++i) in += pieces[rng() % pieces.size()];
        Limits lim;
        lim.max_size = rng() % 4 == 0 ? std::size_t{1} << 20 : rng() % 60;
        lim.max_line = rng() % 4 == 0 ? 1000 : rng() % 24;

        Outcome expected = reference(in, lim);
        Outcome whole = feed_chunks(in, {}, lim);
        ASSERT_EQ(whole, expected) << "input: " << escape(in) << " max_size=" << lim.max_size
                                   << " max_line=" << lim.max_line;

        std::vector<std::size_t> cuts;
        for (std::size_t i = 1; i < in.size(); ++i) {
            if (rng() % 3 == 0) cuts.push_back(i);
        }
        ASSERT_EQ(feed_chunks(in, cuts, lim), expected) << "chunked input: " << escape(in);
        std::vector<std::size_t> bytewise;
        for (std::size_t i = 1; i < in.size(); ++i) bytewise.push_back(i);
        ASSERT_EQ(feed_chunks(in, bytewise, lim), expected) << "bytewise input: " << escape(in);
    }
}

TEST(CountReceivedHeaders, CountsOnlyReceivedFieldsInTheHeader) {
    std::string msg =
        "Received: from a by b\r\n"
        "\tfolded Received: continuation\r\n"
        " Received: also a continuation\r\n"
        "received : obsolete space before colon\r\n"
        "RECEIVED:no space\r\n"
        "Received\t: tab\r\n"
        "X-Received: no\r\n"
        "Received-SPF: pass\r\n"
        "Receivedx: no\r\n"
        "Received no colon\r\n"
        "Subject: Received: no\r\n"
        "\r\n"
        "Received: in the body does not count\r\n";
    EXPECT_EQ(count_received_headers(msg), 4u);
}

TEST(CountReceivedHeaders, EdgeCases) {
    EXPECT_EQ(count_received_headers(""), 0u);
    EXPECT_EQ(count_received_headers("\r\nReceived: x\r\n"), 0u);
    EXPECT_EQ(count_received_headers("Received: a\r\nReceived: b"), 2u);  // no body, no final CRLF
    EXPECT_EQ(count_received_headers("Received: a\r\nReceived: b\r\n"), 2u);
    EXPECT_EQ(count_received_headers("Received:"), 1u);
    EXPECT_EQ(count_received_headers("Received"), 0u);
    std::string many;
    for (int i = 0; i < 150; ++i) many += "Received: hop\r\n";
    EXPECT_EQ(count_received_headers(many + "\r\nbody\r\n"), 150u);
}

}  // namespace
}  // namespace sluice::smtp
