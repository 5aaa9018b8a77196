// control_protocol_test.cpp: the control-socket line protocol (parsing is strict: verbs from a
// table, one argument, queue IDs validated) and its responses (always one line).
#include <gtest/gtest.h>

#include <cctype>
#include <string>

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
    EXPECT_TRUE(f.id.empty());
    EXPECT_EQ(ok("FLUSH " + kId + "\n").id, kId);
    EXPECT_EQ(ok("HOLD " + kId + "\n").verb, Verb::hold);
    EXPECT_EQ(ok("RELEASE " + kId).verb, Verb::release);  // newline optional
    auto d = ok("DELETE " + kId + "\r\n");                // CRLF tolerated
    EXPECT_EQ(d.verb, Verb::remove);
    EXPECT_EQ(d.id, kId);
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
    EXPECT_EQ(err("HOLD  " + kId), "too many arguments");
    EXPECT_EQ(err("HOLD " + kId + " " + kId), "too many arguments");
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
        auto back = ok(format_request(Request{v, kId}));
        EXPECT_EQ(back.verb, v);
        EXPECT_EQ(back.id, kId);
    }
    EXPECT_EQ(format_request(Request{Verb::flush, ""}), "FLUSH\n");
    EXPECT_EQ(format_request(Request{Verb::remove, kId}), "DELETE " + kId + "\n");
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
