// show_test.cpp: `sluice config show` prints a configuration that loads back to the same one,
// with defaults filled in and secrets masked.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "config/config.hpp"
#include "config/show.hpp"

using namespace sluice::config;

namespace {

std::string example() {
    std::ifstream in(std::string(SLUICE_SOURCE_DIR) + "/sluice.example.toml");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

TEST(ConfigShow, DurationsAndSizesInTheirLargestExactUnit) {
    EXPECT_EQ(format_duration(std::chrono::minutes(5)), "5m");
    EXPECT_EQ(format_duration(std::chrono::hours(48)), "2d");
    EXPECT_EQ(format_duration(std::chrono::milliseconds(1500)), "1500ms");
    EXPECT_EQ(format_duration(std::chrono::milliseconds(0)), "0ms");
    EXPECT_EQ(format_size(25u << 20), "25M");
    EXPECT_EQ(format_size(1536), "1536");  // 1.5K: said in bytes
    EXPECT_EQ(format_size(2048), "2K");
    for (const char* d : {"5m", "2d", "1500ms", "0ms", "90s"})
        EXPECT_EQ(format_duration(*parse_duration(d)), d);
}

TEST(ConfigShow, DefaultsRoundTrip) {
    const Config cfg = default_config();
    const std::string shown = show(cfg);
    const Config back = load_string(shown, "shown");
    EXPECT_EQ(show(back), shown);
    EXPECT_NE(shown.find("message_size = '25M'"), std::string::npos) << shown;
    EXPECT_NE(shown.find("any_user = true"), std::string::npos) << shown;
}

TEST(ConfigShow, ExampleRoundTripsWithSecretsMasked) {
    const Config cfg = load_string(example() + R"(
[relay]
smarthost = "smarthost.example.net:587"
smarthost_user = "relayuser"
smarthost_password = "hunter2-relay"
)",
                                   "example");
    const std::string shown = show(cfg);
    EXPECT_EQ(shown.find("hunter2-relay"), std::string::npos) << shown;
    EXPECT_NE(shown.find(std::string(kMasked)), std::string::npos);
    const Config back = load_string(shown, "shown");
    EXPECT_EQ(show(back), shown);
}
