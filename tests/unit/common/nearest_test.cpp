// nearest_test.cpp: edit distance and "did you mean" for mistyped subcommands.
#include <gtest/gtest.h>

#include "common/nearest.hpp"

using sluice::edit_distance;
using sluice::nearest;

TEST(Nearest, EditDistance) {
    EXPECT_EQ(edit_distance("", ""), 0u);
    EXPECT_EQ(edit_distance("serve", "serve"), 0u);
    EXPECT_EQ(edit_distance("serv", "serve"), 1u);
    EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
    EXPECT_EQ(edit_distance("QUEUE", "queue"), 0u);
    EXPECT_EQ(edit_distance("abc", ""), 3u);
    EXPECT_EQ(edit_distance("lsit", "list"), 1u);  // a swap is one edit
}

TEST(Nearest, SuggestsPlausibleTyposOnly) {
    const std::vector<std::string> cmds{"serve", "check-config", "queue", "config", "passwd"};
    EXPECT_EQ(nearest("serv", cmds), "serve");
    EXPECT_EQ(nearest("psaswd", cmds), "passwd");
    EXPECT_EQ(nearest("sever", cmds), "serve");
    EXPECT_EQ(nearest("qeueu", cmds), "queue");
    EXPECT_EQ(nearest("check", cmds), "check-config");  // a prefix
    EXPECT_EQ(nearest("confgi", cmds), "config");
    EXPECT_EQ(nearest("password", cmds), "passwd");
    EXPECT_FALSE(nearest("frobnicate", cmds));
    EXPECT_FALSE(nearest("x", cmds));
    EXPECT_FALSE(nearest("", cmds));
}
