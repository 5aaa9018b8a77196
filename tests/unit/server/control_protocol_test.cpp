// control_protocol_test.cpp: the control-socket line protocol (parsing is strict: verbs from a
// table, one argument, queue IDs validated) and its responses (always one line).
#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "common/queue_id.hpp"
#include "server/control_protocol.hpp"

using namespace sluice::server::control;

namespace {

const std::string kId = sluice::new_queue_id(1'700'000'000'000'000);

Request ok(std::string_view line) {
    auto r = parse_request(line);
    EXPECT_TRUE(r.request.has_value()) << line << ": " << r.error;
    return r.request.value_or(Request{});
}

std::string err(std::string_view line) {
    auto r = parse_request(line);
    EXPECT_FALSE(r.request.has_value()) << line;
    EXPECT_FALSE(r.error.empty());
    return r.error;
}

}  // namespace

TEST(ControlProtocol, ParsesEveryVerb) {
    auto f = ok("FLUSH\n");
    EXPECT_EQ(f.verb, Verb::flush);
    EXPECT_TRUE(f.ids.empty());
    EXPECT_EQ(ok("FLUSH " + kId + "\n").ids, std::vector<std::string>{kId});
    EXPECT_EQ(ok("HOLD " + kId + "\n").verb, Verb::hold);
    EXPECT_EQ(ok("RELEASE " + kId).verb, Verb::release);  // newline optional
    auto d = ok("DELETE " + kId + "\r\n");                // CRLF tolerated
    EXPECT_EQ(d.verb, Verb::remove);
    EXPECT_EQ(d.ids, std::vector<std::string>{kId});
    EXPECT_EQ(ok("hold " + kId).verb, Verb::hold);  // verbs are case-insensitive
}

TEST(ControlProtocol, RejectsMalformedRequests) {
    EXPECT_EQ(err(""), "empty request");
    EXPECT_EQ(err("\n"), "empty request");
    EXPECT_EQ(err("LIST\n"), "unknown command");
    EXPECT_EQ(err("FLUSHX\n"), "unknown command");
    EXPECT_EQ(err("HOLD\n"), "queue ID required");
    EXPECT_EQ(err("RELEASE\n"), "queue ID required");
    EXPECT_EQ(err("DELETE\n"), "queue ID required");
    EXPECT_EQ(err("HOLD \n"), "empty argument");
    EXPECT_EQ(err("HOLD  " + kId), "empty argument");
    EXPECT_EQ(err("HOLD " + kId + " "), "empty argument");
    EXPECT_EQ(err("HOLD " + kId + "  " + kId), "empty argument");
    EXPECT_EQ(err(" HOLD " + kId), "empty request");
}

TEST(ControlProtocol, ValidatesQueueIds) {
    EXPECT_EQ(err("HOLD not-an-id\n"), "invalid queue ID");
    EXPECT_EQ(err("DELETE ../../etc/passwd\n"), "invalid queue ID");
    EXPECT_EQ(err("FLUSH " + kId.substr(1) + "\n"), "invalid queue ID");
    std::string lower = kId;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower != kId) {
        EXPECT_EQ(err("HOLD " + lower), "invalid queue ID");
    }
}

TEST(ControlProtocol, RejectsControlBytesAndLongLines) {
    EXPECT_EQ(err(std::string("HOLD ") + kId + std::string(1, '\0')),
              "invalid character in request");
    EXPECT_EQ(err("HOLD\t" + kId), "invalid character in request");
    EXPECT_EQ(err("FLUSH\nHOLD " + kId), "invalid character in request");  // one line only
    EXPECT_EQ(err("HOLD \xC3\xA9"), "invalid character in request");
    EXPECT_EQ(err(std::string(kMaxRequestLine + 1, 'A')), "request line too long");
}

TEST(ControlProtocol, FormatsRequestsThatParseBack) {
    for (Verb v : {Verb::flush, Verb::hold, Verb::release, Verb::remove}) {
        auto back = ok(format_request(Request{v, {kId}}));
        EXPECT_EQ(back.verb, v);
        EXPECT_EQ(back.ids, std::vector<std::string>{kId});
    }
    EXPECT_EQ(format_request(Request{Verb::flush, {}}), "FLUSH\n");
    EXPECT_EQ(format_request(Request{Verb::remove, {kId}}), "DELETE " + kId + "\n");
}

TEST(ControlProtocol, SeveralIdsUpToTheLimit) {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < kMaxIdsPerRequest; ++i)
        ids.push_back(sluice::new_queue_id(1'700'000'000'000'000 + static_cast<long>(i)));
    const std::string line = format_request(Request{Verb::hold, ids});
    EXPECT_LE(line.size(), kMaxRequestLine + 1);
    auto back = ok(line);
    EXPECT_EQ(back.verb, Verb::hold);
    EXPECT_EQ(back.ids, ids);
    ids.push_back(kId);
    EXPECT_EQ(err(format_request(Request{Verb::hold, ids})), "request line too long");
    // One bad ID spoils the request: nothing is acted on.
    EXPECT_EQ(err("DELETE " + kId + " ../x"), "invalid queue ID");
}

TEST(ControlProtocol, BulkCountsRoundTrip) {
    BulkCounts c{3, 1, kId + ": no such message;"};
    auto back = parse_bulk(format_bulk(c));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->touched, 3u);
    EXPECT_EQ(back->missed, 1u);
    EXPECT_EQ(back->detail, c.detail);
    back = parse_bulk("touched=0 missed=0");
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->detail.empty());
    EXPECT_FALSE(parse_bulk("held"));
    EXPECT_FALSE(parse_bulk("touched=x missed=1"));
    EXPECT_FALSE(parse_bulk("touched=1missed=1"));
}

TEST(ControlProtocol, ResponsesAreOneLine) {
    EXPECT_EQ(format_response(true, "held"), "OK held\n");
    EXPECT_EQ(format_response(false, "no such\nmessage\r"), "ERR no such message \n");
    EXPECT_EQ(format_response(true, ""), "OK\n");
    auto r = parse_response("OK 3 messages\n");
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->ok);
    EXPECT_EQ(r->text, "3 messages");
    r = parse_response("ERR invalid queue ID");
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->ok);
    EXPECT_EQ(r->text, "invalid queue ID");
    EXPECT_TRUE(parse_response("OK"));
    EXPECT_FALSE(parse_response("OKAY"));
    EXPECT_FALSE(parse_response("250 ok"));
    EXPECT_FALSE(parse_response(""));
}
