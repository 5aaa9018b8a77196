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

// ext4's option list names data=journal as a whole option, one per line in /proc/fs/ext4 (or
// comma-separated).
TEST(SyncDir, JournalledDataIsRecognised) {
    EXPECT_TRUE(journals_file_data("rw\nbsddf\ndata=journal\nbarrier\n"));
    EXPECT_TRUE(journals_file_data("rw,data=journal"));
    EXPECT_TRUE(journals_file_data("data=journal"));
    EXPECT_FALSE(journals_file_data("rw\ndelalloc\ndata=ordered\n"));
    EXPECT_FALSE(journals_file_data("rw\nbsddf\nbarrier\n"));  // no journal: no data= line
    EXPECT_FALSE(journals_file_data("rw,data=journal_x,xdata=journal"));
    EXPECT_FALSE(journals_file_data(""));
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

// On ext4 in its default data mode (this machine's /tmp when it is ext4) the answer is yes.
TEST(SyncDir, InPlaceRewritesOnExt4) {
    FileSystemSync tmp("/tmp");
    ASSERT_EQ(tmp.open_error(), 0);
    if (tmp.needs_file_flush()) GTEST_SKIP() << "/tmp is not ext2/3/4";
    std::ifstream mounts("/proc/mounts");
    std::string line;
    bool journal_data = false;
    while (std::getline(mounts, line))
        if (line.find("data=journal") != std::string::npos) journal_data = true;
    if (journal_data) GTEST_SKIP() << "a data=journal mount";
    EXPECT_TRUE(tmp.overwrites_in_place());
}

}  // namespace
}  // namespace sluice
