// header_scan_test.cpp: where the header section ends (empty line, or the first line that is not a
// header field) and its size limit, fed whole and byte by byte.
#include "smtp/header_scan.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sluice::smtp {
namespace {

// Scans `m` fed in pieces of `chunk`, as a growing buffer.
HeaderScan scan(const std::string& m, std::size_t chunk, std::size_t limit = 1 << 20) {
    HeaderScan s(limit);
    for (std::size_t n = 0; n < m.size();) {
        n = std::min(m.size(), n + chunk);
        s.scan(std::string_view(m).substr(0, n));
    }
    return s;
}

TEST(HeaderScan, EndsAfterTheEmptyLine) {
    const std::string m = "From: a@b\r\nSubject: x\r\n y\r\n\r\nbody\r\n";
    for (std::size_t chunk : {1, 3, 1000}) {
        HeaderScan s = scan(m, chunk);
        ASSERT_TRUE(s.done());
        EXPECT_EQ(s.end(), m.find("body"));
        EXPECT_EQ(s.fields_end(), m.find("\r\n\r\n") + 2);
    }
    EXPECT_EQ(header_section_end(m), m.find("body"));
}

TEST(HeaderScan, ABodyWithoutTheEmptyLineStartsAtTheFirstNonHeaderLine) {
    const std::string m = "Subject: x\r\nDear friend,\r\nhello: there\r\n";
    EXPECT_EQ(header_section_end(m), m.find("Dear"));
    // A first line that is a continuation or not a field: no header section at all.
    EXPECT_EQ(header_section_end(" folded\r\nSubject: x\r\n\r\n"), 0u);
    EXPECT_EQ(header_section_end("just text\r\n"), 0u);
    EXPECT_EQ(header_section_end("\r\nbody\r\n"), 2u);
    // Obsolete space before the colon is still a field; a colon first is not.
    EXPECT_EQ(header_section_end("Subject : x\r\n\r\nb"), 15u);
    EXPECT_EQ(header_section_end(": x\r\n"), 0u);
    // All header (no body): the whole message.
    EXPECT_EQ(header_section_end("A: 1\r\nB: 2\r\n"), 12u);
}

TEST(HeaderScan, LimitAppliesToLinesStillArrivingAndToManyFields) {
    std::string folded = "Subject: " + std::string(5000, 'x');  // no line end yet
    for (std::size_t chunk : {1, 100, 10000}) {
        HeaderScan s = scan(folded, chunk, 4096);
        EXPECT_TRUE(s.too_big()) << chunk;
        EXPECT_FALSE(s.done());
    }
    std::string many;
    for (int i = 0; i < 1000; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
    EXPECT_TRUE(scan(many + "\r\n", 7, 4096).too_big());
    HeaderScan fits = scan(many + "\r\nbody", 7, many.size() + 2);
    EXPECT_FALSE(fits.too_big());
    EXPECT_TRUE(fits.done());
}

}  // namespace
}  // namespace sluice::smtp
