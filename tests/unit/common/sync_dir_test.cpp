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

// mountinfo lines as proc(5) gives them: data=journal is found for the right device only, in the
// super options (after " - "), as a whole option.
TEST(SyncDir, JournalledDataMountIsRecognised) {
    const std::string info =
        "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,discard,data=ordered\n"
        "30 22 254:2 / /var/spool rw,noatime shared:5 - ext4 /dev/vda2 rw,data=journal\n"
        "31 22 254:3 / /srv rw master:2 - ext4 /dev/vda3 rw,data=journal_checksum_x\n"
        "32 22 0:25 / /tmp rw - tmpfs tmpfs rw,size=100k\n";
    EXPECT_FALSE(journals_file_data(info, 254, 1));
    EXPECT_TRUE(journals_file_data(info, 254, 2));
    EXPECT_FALSE(journals_file_data(info, 254, 3));
    EXPECT_FALSE(journals_file_data(info, 0, 25));
    EXPECT_FALSE(journals_file_data(info, 254, 9));  // not mounted
    EXPECT_FALSE(journals_file_data("", 254, 2));
    EXPECT_FALSE(journals_file_data("garbage line\n30 22 254:2 / /x rw\n", 254, 2));
}

// Only ext2/3/4 rewrites in place: procfs (and anything else that is not ext) says no.
TEST(SyncDir, InPlaceRewritesOnlyOnExt) {
    FileSystemSync proc("/proc");
    ASSERT_EQ(proc.open_error(), 0);
    EXPECT_FALSE(proc.overwrites_in_place());
    EXPECT_TRUE(proc.needs_file_flush());
    FileSystemSync missing("/nonexistent/sluice");
    EXPECT_FALSE(missing.overwrites_in_place());
}

}  // namespace
}  // namespace sluice
