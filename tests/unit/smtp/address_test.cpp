// address_test.cpp: tests for the RFC 5321 path parser (syntax, literals, limits, UTF-8).
//
// STANDARDS: RFC 5321 4.1.2, 4.1.3, 4.5.3.1; RFC 6531 3.3; RFC 3629.
#include "smtp/address.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace sluice::smtp {
namespace {

Mailbox accept(std::string_view in, bool allow_null = false, bool allow_postmaster = false) {
    PathResult r = parse_path(in, allow_null, allow_postmaster);
    EXPECT_TRUE(r.path.has_value()) << "rejected: " << in;
    EXPECT_EQ(r.error, AddressError::none) << in;
    if (!r.path) return {};
    EXPECT_FALSE(r.path->null) << in;
    return r.path->mailbox;
}

AddressError reject(std::string_view in, bool allow_null = false, bool allow_postmaster = false) {
    PathResult r = parse_path(in, allow_null, allow_postmaster);
    EXPECT_FALSE(r.path.has_value()) << "accepted: " << in;
    EXPECT_NE(r.error, AddressError::none) << in;
    return r.error;
}

// A domain of exactly n octets made of labels of up to 63 letters.
std::string domain_of(std::size_t n) {
    std::string d;
    while (d.size() < n) {
        if (!d.empty()) d += '.';
        std::size_t left = n - d.size();
        std::size_t k = left > 63 ? 62 : left;  // 62 so the last label is never empty
        d += std::string(k, 'd');
    }
    return d;
}

TEST(ParsePath, SimpleMailbox) {
    PathResult r = parse_path("<user@example.com>", false, false);
    ASSERT_TRUE(r.path);
    EXPECT_FALSE(r.path->null);
    EXPECT_EQ(r.path->mailbox.local, "user");
    EXPECT_EQ(r.path->mailbox.domain, "example.com");
    EXPECT_FALSE(r.path->mailbox.domain_is_literal);
    EXPECT_FALSE(r.path->mailbox.utf8);
    EXPECT_EQ(r.path->mailbox.str(), "user@example.com");
    EXPECT_EQ(r.rest, "");
}

TEST(ParsePath, RestIsWhatFollowsTheClosingBracket) {
    std::string_view in = "<a@b.c> SIZE=10 BODY=8BITMIME";
    PathResult r = parse_path(in, false, false);
    ASSERT_TRUE(r.path);
    EXPECT_EQ(r.rest, " SIZE=10 BODY=8BITMIME");
    EXPECT_EQ(r.rest.data(), in.data() + 7);  // a view into the input
    EXPECT_EQ(parse_path("<a@b>>", false, false).rest, ">");
}

TEST(ParsePath, DomainIsLowerCasedLocalPartIsNot) {
    Mailbox m = accept("<John.Doe@Example.COM>");
    EXPECT_EQ(m.local, "John.Doe");
    EXPECT_EQ(m.domain, "example.com");
}

TEST(ParsePath, DotStringAtext) {
    EXPECT_EQ(accept("<!#$%&'*+-/=?^_`{|}~@x>").local, "!#$%&'*+-/=?^_`{|}~");
    EXPECT_EQ(accept("<a.b.c@x>").local, "a.b.c");
    // '%' and '!' are ordinary characters; no source routing through them.
    Mailbox m = accept("<user%other.example!bang@relay.example>");
    EXPECT_EQ(m.local, "user%other.example!bang");
    EXPECT_EQ(m.domain, "relay.example");
}

TEST(ParsePath, DotStringErrors) {
    for (const char* in :
         {"<.a@x>", "<a.@x>", "<a..b@x>", "<a b@x>", "<a(b)@x>", "<a,b@x>", "<a[b@x>", "<a\\b@x>",
          "<@x>", "<a\"b\"@x>", "<a:b@x>", "<a;b@x>", "<a<b@x>", "<a\x7f@x>", "<a\t@x>"}) {
        EXPECT_EQ(reject(in), AddressError::syntax) << in;
    }
}

TEST(ParsePath, StructuralErrors) {
    for (const char* in : {"", "<", ">", "a@b", "a@b>", "<a@b", "<a>", "<a@>", "<a@b >", "< a@b>",
                           "<a@b@c>", "<a @b>", "<a@ b>", " <a@b>", "<<a@b>>", "<a@b.c"}) {
        EXPECT_EQ(reject(in), AddressError::syntax) << in;
    }
}

TEST(ParsePath, QuotedLocalPart) {
    Mailbox m = accept("<\"john doe\"@example.com>");
    EXPECT_EQ(m.local, "\"john doe\"");  // kept as written
    EXPECT_EQ(unquote_local_part(m.local), "john doe");

    m = accept(R"(<"a\"b\\c"@x>)");
    EXPECT_EQ(m.local, R"("a\"b\\c")");
    EXPECT_EQ(unquote_local_part(m.local), R"(a"b\c)");

    EXPECT_EQ(accept("<\"\"@x>").local, "\"\"");  // *QcontentSMTP allows empty
    EXPECT_EQ(accept("<\"a@b,c:<d>\"@x>").local, "\"a@b,c:<d>\"");
    EXPECT_EQ(accept(R"(<"\ "@x>)").local, R"("\ ")");
}

TEST(ParsePath, QuotedLocalPartErrors) {
    for (const char* in :
         {"<\"abc@x>", "<\"a\"b@x>", "<\"a\tb\"@x>", "<\"a\\\tb\"@x>", "<\"a\x7f\"@x>",
          "<\"a\\\x7f\"@x>", "<\"abc\\\"@x>", "<\"a\"\"b\"@x>", "<\"a\".b@x>"}) {
        EXPECT_EQ(reject(in), AddressError::syntax) << in;
    }
}

TEST(UnquoteLocalPart, Cases) {
    EXPECT_EQ(unquote_local_part("plain"), "plain");
    EXPECT_EQ(unquote_local_part("\"a b\""), "a b");
    EXPECT_EQ(unquote_local_part(R"("\a\\")"), R"(a\)");
    EXPECT_EQ(unquote_local_part("\"\""), "");
    EXPECT_EQ(unquote_local_part("\""), "\"");
}

TEST(ParsePath, Domains) {
    EXPECT_EQ(accept("<a@localhost>").domain, "localhost");
    EXPECT_EQ(accept("<a@a-b.c-d>").domain, "a-b.c-d");
    EXPECT_EQ(accept("<a@x--y.example>").domain, "x--y.example");
    EXPECT_EQ(accept("<a@1.2.3.4>").domain, "1.2.3.4");  // digits-only labels are names too
    EXPECT_FALSE(accept("<a@1.2.3.4>").domain_is_literal);
    EXPECT_EQ(accept("<a@9>").domain, "9");
}

TEST(ParsePath, DomainErrors) {
    for (const char* in : {"<a@-a.com>", "<a@a-.com>", "<a@a..com>", "<a@a.com.>", "<a@.a.com>",
                           "<a@a_b.com>", "<a@a.-b>", "<a@a+b>", "<a@a/b>", "<a@.>", "<a@->"}) {
        EXPECT_EQ(reject(in), AddressError::syntax) << in;
    }
}

TEST(ParsePath, Ipv4Literals) {
    Mailbox m = accept("<a@[192.0.2.1]>");
    EXPECT_EQ(m.domain, "[192.0.2.1]");
    EXPECT_TRUE(m.domain_is_literal);
    EXPECT_EQ(m.str(), "a@[192.0.2.1]");
    accept("<a@[0.0.0.0]>");
    accept("<a@[255.255.255.255]>");
    accept("<a@[001.02.3.4]>");  // Snum = 1*3DIGIT
    for (const char* in :
         {"<a@[256.1.1.1]>", "<a@[1.2.3]>", "<a@[1.2.3.4.5]>", "<a@[1234.1.1.1]>", "<a@[]>",
          "<a@[1.2.3.4>", "<a@[ 1.2.3.4]>", "<a@[1.2.3.4 ]>", "<a@[1.2.3.]>", "<a@[.1.2.3]>",
          "<a@[1..2.3]>", "<a@[a.b.c.d]>", "<a@[1.2.3.4]x>", "<a@[1.2.3.4].com>", "<a@x.[1.2.3.4]>",
          "<a@[-1.2.3.4]>"}) {
        EXPECT_EQ(reject(in), AddressError::syntax) << in;
    }
}

TEST(ParsePath, Ipv6Literals) {
    for (const char* lit : {"IPv6:::1", "IPv6:::", "IPv6:2001:db8::1", "IPv6:2001:DB8:0:0:0:0:0:1",
                            "ipv6:::1", "IPV6:fe80::", "IPv6:::ffff:192.0.2.1",
                            "IPv6:1:2:3:4:5:6:1.2.3.4", "IPv6:::1.2.3.4", "IPv6:1:2:3:4::1.2.3.4",
                            "IPv6:1:2:3:4:5:6::", "IPv6:1::2:3:4:5:6", "IPv6:ffff:FFFF::abcd"}) {
        std::string in = std::string("<a@[") + lit + "]>";
        Mailbox m = accept(in);
        EXPECT_EQ(m.domain, "[" + std::string(lit) + "]") << "kept as written";
        EXPECT_TRUE(m.domain_is_literal);
    }
    for (const char* lit : {
             "IPv6:1:2:3:4:5:6:7",          // 7 groups, no "::"
             "IPv6:1:2:3:4:5:6:7:8:9",      // 9 groups
             "IPv6:1::2::3",                // two "::"
             "IPv6:1:::2",                  // ":::"
             "IPv6:12345::1",               // 5 hex digits
             "IPv6:g::1",                   // not hex
             "IPv6:1:2:3:4:5:6:7::",        // "::" for a single group (RFC 5321 forbids)
             "IPv6::1:2:3:4:5:6:7:8",       // "::" beside 8 groups
             "IPv6::1",                     // single leading colon
             "IPv6:1:",                     // trailing colon
             "IPv6:::1:",                   // trailing colon after "::"
             "IPv6:1.2.3.4",                // IPv4 alone
             "IPv6:1:2:3:4:5::1.2.3.4",     // 7 groups with the IPv4 part beside "::"
             "IPv6:1:2:3:4:5:6:7:1.2.3.4",  // 9 groups
             "IPv6:1:2:3:4:5:1.2.3.4",      // 7 groups, no "::"
             "IPv6:::1.2.3",                // bad IPv4 tail
             "IPv6:1.2.3.4::",              // IPv4 not at the end
             "IPv6:",                       // empty
             "IPv6:1:2:3:4:5:6:7:8 ",       // space
         }) {
        std::string in = std::string("<a@[") + lit + "]>";
        EXPECT_EQ(reject(in), AddressError::syntax) << in;
    }
    accept("<a@[IPv6:1:2:3:4:5:6:7:8]>");
}

TEST(ParsePath, GeneralAddressLiterals) {
    Mailbox m = accept("<a@[x-tag:Some!Content~]>");
    EXPECT_EQ(m.domain, "[x-tag:Some!Content~]");
    EXPECT_TRUE(m.domain_is_literal);
    accept("<a@[-x1:a:b:c]>");  // Ldh-str may start with '-'
    for (const char* in :
         {"<a@[tag-:x]>", "<a@[tag:]>", "<a@[:x]>", "<a@[tag:a\\b]>", "<a@[tag:a[b]>",
          "<a@[tag:a b]>", "<a@[ta_g:x]>", "<a@[tag:\xc3\xa9]>"}) {
        EXPECT_EQ(reject(in), AddressError::syntax) << in;
    }
}

TEST(ParsePath, SourceRouteIsParsedAndDropped) {
    PathResult r = parse_path("<@a.example,@B.example:user@C.Example> X", false, false);
    ASSERT_TRUE(r.path);
    EXPECT_EQ(r.path->mailbox.str(), "user@c.example");
    EXPECT_EQ(r.rest, " X");
    EXPECT_EQ(accept("<@a:u@d>").str(), "u@d");
    for (const char* in : {"<@a.com,u@d>", "<@:u@d>", "<@a.com,@:u@d>", "<@a.com:>", "<@a.com>",
                           "<@a.com:@b.com:u@d>", "<@-a:u@d>", "<@a,,@b:u@d>", "<@[1.2.3.4]:u@d>",
                           "<@a.com: u@d>", "<@a.com,:u@d>"}) {
        EXPECT_EQ(reject(in), AddressError::syntax) << in;
    }
}

TEST(ParsePath, NullPath) {
    PathResult r = parse_path("<>", true, false);
    ASSERT_TRUE(r.path);
    EXPECT_TRUE(r.path->null);
    EXPECT_EQ(r.rest, "");
    r = parse_path("<> SIZE=1", true, false);
    ASSERT_TRUE(r.path);
    EXPECT_TRUE(r.path->null);
    EXPECT_EQ(r.rest, " SIZE=1");
    EXPECT_EQ(reject("<>", false, true), AddressError::syntax);
    EXPECT_EQ(reject("< >", true, false), AddressError::syntax);
    EXPECT_EQ(reject("<\"\">", true, false), AddressError::syntax);
}

TEST(ParsePath, Postmaster) {
    for (const char* in : {"<Postmaster>", "<postmaster>", "<POSTMASTER>", "<pOsTmAsTeR>"}) {
        PathResult r = parse_path(in, false, true);
        ASSERT_TRUE(r.path) << in;
        EXPECT_FALSE(r.path->null);
        EXPECT_EQ(r.path->mailbox.local, "postmaster");
        EXPECT_EQ(r.path->mailbox.domain, "");
        EXPECT_EQ(r.path->mailbox.str(), "postmaster");
        EXPECT_EQ(reject(in, true, false), AddressError::syntax) << in;
    }
    PathResult r = parse_path("<Postmaster> NOTIFY=NEVER", false, true);
    ASSERT_TRUE(r.path);
    EXPECT_EQ(r.rest, " NOTIFY=NEVER");
    EXPECT_EQ(accept("<Postmaster@Example.ORG>", false, true).str(), "Postmaster@example.org");
    EXPECT_EQ(reject("<postmasterx>", false, true), AddressError::syntax);
    EXPECT_EQ(reject("<postmaste>", false, true), AddressError::syntax);
    EXPECT_EQ(reject("<\"postmaster\">", false, true), AddressError::syntax);
}

TEST(ParsePath, LocalPartLimit) {
    std::string l64(64, 'l');
    EXPECT_EQ(accept("<" + l64 + "@x>").local, l64);
    EXPECT_EQ(reject("<" + l64 + "l@x>"), AddressError::local_too_long);
    // Counted as written, quotes included.
    std::string q64 = "\"" + std::string(62, 'q') + "\"";
    EXPECT_EQ(accept("<" + q64 + "@x>").local, q64);
    EXPECT_EQ(reject("<\"" + std::string(63, 'q') + "\"@x>"), AddressError::local_too_long);
    // Octets, not characters: 32 two-octet characters fit, 33 do not.
    std::string e2;
    for (int i = 0; i < 32; ++i) e2 += "\xc3\xa9";
    EXPECT_EQ(accept("<" + e2 + "@x>").local, e2);
    EXPECT_EQ(reject("<" + e2 + "\xc3\xa9@x>"), AddressError::local_too_long);
    // A syntax error wins over a length error.
    EXPECT_EQ(reject("<" + l64 + "l@>"), AddressError::syntax);
}

TEST(ParsePath, DomainLimit) {
    ASSERT_EQ(domain_of(255).size(), 255u);
    ASSERT_EQ(domain_of(256).size(), 256u);
    // A 255-octet domain is within the domain limit, but "<a@" + 255 + ">" is 259 > 256.
    EXPECT_EQ(reject("<a@" + domain_of(255) + ">"), AddressError::path_too_long);
    EXPECT_EQ(reject("<a@" + domain_of(256) + ">"), AddressError::domain_too_long);
    std::string lit = "[x:" + std::string(252, 'c') + "]";
    ASSERT_EQ(lit.size(), 256u);
    EXPECT_EQ(reject("<a@" + lit + ">"), AddressError::domain_too_long);
    EXPECT_EQ(reject("<a@" + domain_of(300) + "->"), AddressError::syntax);
}

TEST(ParsePath, PathLimit) {
    std::string local(64, 'l');
    std::string path256 = "<" + local + "@" + domain_of(189) + ">";
    ASSERT_EQ(path256.size(), 256u);
    EXPECT_EQ(accept(path256).local, local);
    std::string path257 = "<" + local + "@" + domain_of(190) + ">";
    ASSERT_EQ(path257.size(), 257u);
    EXPECT_EQ(reject(path257), AddressError::path_too_long);
    // The source route counts towards the path length.
    std::string routed = "<@r:" + std::string(61, 'l') + "@" + domain_of(189) + ">";
    ASSERT_EQ(routed.size(), 256u);
    accept(routed);
    EXPECT_EQ(reject("<@rr:" + std::string(61, 'l') + "@" + domain_of(189) + ">"),
              AddressError::path_too_long);
    // The rest after '>' does not count.
    PathResult r = parse_path(path256 + std::string(500, ' '), false, false);
    EXPECT_TRUE(r.path);
}

TEST(ParsePath, Utf8) {
    Mailbox m =
        accept("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>");
    EXPECT_TRUE(m.utf8);
    EXPECT_EQ(m.local, "\xe7\x94\xa8\xe6\x88\xb7");
    EXPECT_EQ(m.domain, "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a");

    m = accept("<j\xc3\xb6rg@Example.COM>");
    EXPECT_TRUE(m.utf8);
    m = accept(
        "<a@B\xc3\x9c"
        "CHER.De>");  // "BÜCHER.De": ASCII lower-cased, UTF-8 left alone
    EXPECT_EQ(m.domain,
              "b\xc3\x9c"
              "cher.de");
    EXPECT_TRUE(m.utf8);
    EXPECT_TRUE(accept("<\"\xc3\xa9 x\"@x>").utf8);  // UTF-8 in a quoted string
    EXPECT_TRUE(accept("<a@\xc3\xbc-x.de>").utf8);
    EXPECT_FALSE(accept("<a@b.c>").utf8);
    EXPECT_TRUE(accept("<\xf4\x8f\xbf\xbf@x>").utf8);  // U+10FFFF
    accept("<\xef\xbf\xbf@x>");                        // U+FFFF
    accept("<\xed\x9f\xbf@x>");                        // U+D7FF
    accept("<\xee\x80\x80@x>");                        // U+E000
    accept("<\xc2\x80@x>");                            // U+0080
    accept("<\xf0\x90\x80\x80@x>");                    // U+10000
    // Source-route domains are checked but do not make the address UTF-8.
    EXPECT_FALSE(accept("<@\xc3\xbc.de:a@b>").utf8);
    EXPECT_EQ(reject("<@\xff.de:a@b>"), AddressError::bad_utf8);
}

TEST(ParsePath, BadUtf8) {
    for (const char* bad : {
             "\xc0\xaf",          // overlong '/'
             "\xc1\xbf",          // overlong
             "\xe0\x80\xaf",      // overlong 3-octet
             "\xe0\x9f\xbf",      // overlong 3-octet (U+07FF)
             "\xf0\x8f\xbf\xbf",  // overlong 4-octet (U+FFFF)
             "\xed\xa0\x80",      // surrogate U+D800
             "\xed\xbf\xbf",      // surrogate U+DFFF
             "\xf4\x90\x80\x80",  // U+110000
             "\xf5\x80\x80\x80",  // beyond
             "\xff",              // never valid
             "\xfe",              // never valid
             "\x80",              // lone continuation
             "\xc3",              // truncated
             "\xe2\x82",          // truncated
             "\xf0\x9f\x98",      // truncated
             "\xc3\xc3\xa9",      // lead byte where a continuation belongs
         }) {
        std::string b(bad);
        EXPECT_EQ(reject("<" + b + "@x>"), AddressError::bad_utf8) << "local";
        EXPECT_EQ(reject("<a" + b + "b@x>"), AddressError::bad_utf8) << "local middle";
        EXPECT_EQ(reject("<\"" + b + "\"@x>"), AddressError::bad_utf8) << "quoted";
        EXPECT_EQ(reject("<a@" + b + ".com>"), AddressError::bad_utf8) << "domain";
        EXPECT_EQ(reject("<a@x" + b + ">"), AddressError::bad_utf8) << "domain end";
        EXPECT_FALSE(valid_utf8(b));
        EXPECT_FALSE(valid_utf8("ok" + b + "ok"));
    }
}

TEST(Utf8, Validation) {
    EXPECT_TRUE(valid_utf8(""));
    EXPECT_TRUE(valid_utf8("plain ascii"));
    EXPECT_TRUE(valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    EXPECT_TRUE(valid_utf8(std::string_view("\0", 1)));
    EXPECT_EQ(utf8_sequence_length("a"), 1u);
    EXPECT_EQ(utf8_sequence_length("\xc3\xa9"), 2u);
    EXPECT_EQ(utf8_sequence_length("\xe2\x82\xac"), 3u);
    EXPECT_EQ(utf8_sequence_length("\xf0\x9f\x98\x80xyz"), 4u);
    EXPECT_EQ(utf8_sequence_length(""), 0u);
    EXPECT_EQ(utf8_sequence_length("\xc3"), 0u);
}

// Exhaustive over all 1- to 3-octet sequences against a decoder-based definition.
TEST(Utf8, AgreesWithCodePointDefinition) {
    auto reference_len = [](const unsigned char* s, std::size_t n) -> std::size_t {
        if (n == 0) return 0;
        if (s[0] < 0x80) return 1;
        std::size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
        if (len == 0 || s[0] >= 0xf8 || n < len) return 0;
        unsigned cp = s[0] & (0x7f >> len);
        for (std::size_t i = 1; i < len; ++i) {
            if ((s[i] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        return len;
    };
    for (unsigned a = 0x80; a < 0x100; ++a) {
        for (unsigned b = 0; b < 0x100; ++b) {
            for (unsigned c = 0x70; c < 0xd0; ++c) {
                unsigned char s[4] = {static_cast<unsigned char>(a), static_cast<unsigned char>(b),
                                      static_cast<unsigned char>(c), 0xbf};
                std::string_view v(reinterpret_cast<const char*>(s), 4);
                ASSERT_EQ(utf8_sequence_length(v), reference_len(s, 4))
                    << a << " " << b << " " << c;
            }
        }
    }
}

// Random byte strings: the parser never crashes and everything it accepts meets the invariants and
// re-parses to the same mailbox.
TEST(ParsePath, RandomInputsKeepInvariants) {
    const std::string alphabet =
        std::string("<>@.:,[]\"\\ -aZ09!%\x7f\xc3\xa9\xff\xe2\x82\xac") + std::string(1, '\0');
    std::mt19937 rng(99);
    int accepted = 0;
    for (int iter = 0; iter < 200000; ++iter) {
        std::string in = rng() % 2 ? "<" : "";
        std::size_t n = rng() % 16;
        for (std::size_t i = 0; i < n; ++i) {
            in += rng() % 3 ? std::string(1, "abc"[rng() % 3])
                            : std::string(1, alphabet[rng() % alphabet.size()]);
        }
        if (rng() % 2) in += ">";
        PathResult r = parse_path(in, rng() % 2, rng() % 2);
        if (!r.path) {
            ASSERT_NE(r.error, AddressError::none);
            continue;
        }
        ++accepted;
        ASSERT_EQ(r.error, AddressError::none);
        ASSERT_TRUE(std::string_view(in).ends_with(r.rest));
        if (r.path->null) continue;
        const Mailbox& m = r.path->mailbox;
        ASSERT_LE(m.local.size(), 64u);
        ASSERT_LE(m.domain.size(), 255u);
        ASSERT_TRUE(valid_utf8(m.local));
        ASSERT_TRUE(valid_utf8(m.domain));
        if (m.domain.empty()) {
            ASSERT_EQ(m.local, "postmaster");
            continue;
        }
        bool non_ascii = false;
        for (char c : m.local + m.domain) non_ascii |= static_cast<unsigned char>(c) >= 0x80;
        ASSERT_EQ(m.utf8, non_ascii) << in;
        PathResult again = parse_path("<" + m.local + "@" + m.domain + ">", false, false);
        ASSERT_TRUE(again.path) << in;
        ASSERT_EQ(again.path->mailbox.str(), m.str());
    }
    EXPECT_GT(accepted, 100);  // the generator does reach valid paths
}

}  // namespace
}  // namespace sluice::smtp
