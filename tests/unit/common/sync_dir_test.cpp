// sync_dir_test.cpp: the durability syncs shared by the spool and Maildir delivery.
#include "common/sync_dir.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

namespace sluice {
namespace {

namespace stdfs = std::filesystem;

TEST(SyncDir, DirectoryAndFileSystemSyncs) {
    char tmpl[] = "/tmp/sluice-sync-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const stdfs::path dir = tmpl;
    std::ofstream(dir / "f") << "data";
    EXPECT_EQ(sync_directory(dir.string()), 0);
    EXPECT_EQ(sync_filesystem(dir.string()), 0);
    EXPECT_EQ(sync_directory((dir / "missing").string()), ENOENT);
    EXPECT_EQ(sync_filesystem((dir / "missing").string()), ENOENT);

    FileSystemSync ok(dir.string());
    EXPECT_EQ(ok.open_error(), 0);
    EXPECT_EQ(ok.sync(), 0);
    EXPECT_EQ(ok.sync(), 0);  // the descriptor stays usable

    // A path that cannot be opened: every sync reports why, never a false success.
    FileSystemSync bad((dir / "missing").string());
    EXPECT_EQ(bad.open_error(), ENOENT);
    EXPECT_EQ(bad.sync(), ENOENT);
    stdfs::remove_all(dir);
}

TEST(SyncDir, KernelReleaseCheck) {
    EXPECT_TRUE(kernel_at_least("6.1.0-28-amd64", 5, 8));
    EXPECT_TRUE(kernel_at_least("5.8.0", 5, 8));
    EXPECT_TRUE(kernel_at_least("5.10.218-1", 5, 8));  // minor compared as a number, not text
    EXPECT_TRUE(kernel_at_least("10.0", 5, 8));
    EXPECT_FALSE(kernel_at_least("5.7.19-generic", 5, 8));
    EXPECT_FALSE(kernel_at_least("4.19.0-27-amd64", 5, 8));
    EXPECT_FALSE(kernel_at_least("4.18.0-553.el8_10.x86_64", 5, 8));  // RHEL 8
    EXPECT_FALSE(kernel_at_least("", 5, 8));
    EXPECT_FALSE(kernel_at_least("linux", 5, 8));
}

}  // namespace
}  // namespace sluice
