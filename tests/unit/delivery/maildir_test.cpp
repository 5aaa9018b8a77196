// maildir_test.cpp: Maildir delivery: file lands in new/ with LF endings and an exact S= size,
// existing copies are found in new/ and cur/, path errors are permanent, and failures leave no tmp
// files.
#include "delivery/maildir.hpp"
#include "../temp_dir.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

namespace sluice::delivery {
namespace {

namespace stdfs = std::filesystem;

using TempDir = test::TempDir;

std::vector<std::string> names(const stdfs::path& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = stdfs::directory_iterator(dir, ec); !ec && it != stdfs::directory_iterator();
         it.increment(ec)) {
        out.push_back(it->path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string slurp(const stdfs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

MaildirCopy basic_copy(const stdfs::path& maildir) {
    MaildirCopy c;
    c.maildir = maildir;
    c.unique = maildir_unique_name(1700000000123456, "0123456789ABCDEF", 0);
    c.hostname = "mx.example.org";
    c.prepend = "Return-Path: <s@example.org>\r\nDelivered-To: u@example.com\r\n";
    c.message = "Subject: hi\r\n\r\nline one\r\nbare\rcr\r\n";
    return c;
}

TEST(Maildir, UniqueName) {
    EXPECT_EQ(maildir_unique_name(1700000000123456, "0123456789ABCDEF", 0),
              "1700000000.Q0123456789ABCDEFR0");
    EXPECT_EQ(maildir_unique_name(999999, "X", 12), "0.QXR12");
}

TEST(Maildir, DeliversIntoNewWithLfAndExactSize) {
    TempDir t;
    const stdfs::path md = t.path() / "users" / "u" / "Maildir";  // created with mkdir -p semantics
    MaildirCopy c = basic_copy(md);
    MaildirResult r = deliver_maildir(c);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_FALSE(r.already_present);

    const std::string want =
        "Return-Path: <s@example.org>\nDelivered-To: u@example.com\nSubject: hi\n\nline "
        "one\nbare\rcr\n";
    const std::string name =
        "1700000000.Q0123456789ABCDEFR0.mx.example.org,S=" + std::to_string(want.size());
    EXPECT_EQ(names(md / "new"), std::vector<std::string>{name});
    EXPECT_TRUE(names(md / "tmp").empty());
    EXPECT_TRUE(stdfs::is_directory(md / "cur"));
    EXPECT_EQ(slurp(md / "new" / name), want);
    EXPECT_EQ(stdfs::file_size(md / "new" / name), want.size());
    for (const stdfs::path& d : {md, md / "tmp", md / "new", md / "cur"}) {
        EXPECT_EQ(stdfs::status(d).permissions() & stdfs::perms::all, stdfs::perms::owner_all) << d;
    }
    EXPECT_EQ(stdfs::status(md / "new" / name).permissions() & stdfs::perms::all,
              stdfs::perms::owner_read | stdfs::perms::owner_write);
}

TEST(Maildir, KeepsCrlfWhenAsked) {
    TempDir t;
    MaildirCopy c = basic_copy(t.path() / "md");
    c.crlf_to_lf = false;
    ASSERT_TRUE(deliver_maildir(c).ok);
    std::string want = std::string(c.prepend) + std::string(c.message);
    auto files = names(t.path() / "md" / "new");
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(files[0], c.unique + ".mx.example.org,S=" + std::to_string(want.size()));
    EXPECT_EQ(slurp(t.path() / "md" / "new" / files[0]), want);
}

TEST(Maildir, BinaryContentAndEmptyPrepend) {
    TempDir t;
    std::string msg = "a\r\n";
    msg.push_back('\0');
    msg += "\xff\r\r\n\n";
    MaildirCopy c = basic_copy(t.path() / "md");
    c.prepend = "";
    c.message = msg;
    ASSERT_TRUE(deliver_maildir(c).ok);
    auto files = names(t.path() / "md" / "new");
    ASSERT_EQ(files.size(), 1u);
    std::string want = "a\n";
    want.push_back('\0');
    want += "\xff\r\n\n";
    EXPECT_EQ(slurp(t.path() / "md" / "new" / files[0]), want);
    EXPECT_NE(files[0].find(",S=" + std::to_string(want.size())), std::string::npos);
}

TEST(Maildir, HostnameIsEscaped) {
    TempDir t;
    MaildirCopy c = basic_copy(t.path() / "md");
    c.hostname = "a/b:c";
    ASSERT_TRUE(deliver_maildir(c).ok);
    auto files = names(t.path() / "md" / "new");
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(files[0].substr(0, c.unique.size() + 12), c.unique + ".a\\057b\\072c");
}

TEST(Maildir, ExistingMaildirIsUsedAsIs) {
    TempDir t;
    const stdfs::path md = t.path() / "md";
    stdfs::create_directories(md / "tmp");
    stdfs::create_directories(md / "new");
    stdfs::create_directories(md / "cur");
    ASSERT_TRUE(deliver_maildir(basic_copy(md)).ok);
    MaildirCopy second = basic_copy(md);
    second.unique = maildir_unique_name(1700000000123456, "0123456789ABCDEF", 1);
    ASSERT_TRUE(deliver_maildir(second).ok);
    EXPECT_EQ(names(md / "new").size(), 2u);
}

TEST(Maildir, CheckExistingFindsCopyInNew) {
    TempDir t;
    MaildirCopy c = basic_copy(t.path() / "md");
    ASSERT_TRUE(deliver_maildir(c).ok);
    c.check_existing = true;
    MaildirResult r = deliver_maildir(c);
    EXPECT_TRUE(r.ok);
    EXPECT_TRUE(r.already_present);
    EXPECT_EQ(names(t.path() / "md" / "new").size(), 1u);
}

TEST(Maildir, CheckExistingFindsCopyMovedToCur) {
    TempDir t;
    const stdfs::path md = t.path() / "md";
    MaildirCopy c = basic_copy(md);
    ASSERT_TRUE(deliver_maildir(c).ok);
    const std::string name = names(md / "new").at(0);
    stdfs::rename(md / "new" / name, md / "cur" / (name + ":2,S"));  // what Dovecot does
    c.check_existing = true;
    MaildirResult r = deliver_maildir(c);
    EXPECT_TRUE(r.ok);
    EXPECT_TRUE(r.already_present);
    EXPECT_TRUE(names(md / "new").empty());
}

TEST(Maildir, CheckExistingDoesNotMatchAnotherRecipientIndex) {
    TempDir t;
    const stdfs::path md = t.path() / "md";
    MaildirCopy c1 = basic_copy(md);
    c1.unique = maildir_unique_name(1700000000123456, "0123456789ABCDEF", 1);
    ASSERT_TRUE(deliver_maildir(c1).ok);
    MaildirCopy c10 = basic_copy(md);
    c10.unique = maildir_unique_name(1700000000123456, "0123456789ABCDEF", 10);
    c10.check_existing = true;
    MaildirResult r = deliver_maildir(c10);
    EXPECT_TRUE(r.ok);
    EXPECT_FALSE(r.already_present);
    EXPECT_EQ(names(md / "new").size(), 2u);
}

TEST(Maildir, CheckExistingOnMissingMaildirDelivers) {
    TempDir t;
    MaildirCopy c = basic_copy(t.path() / "fresh");
    c.check_existing = true;
    MaildirResult r = deliver_maildir(c);
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_FALSE(r.already_present);
    EXPECT_EQ(names(t.path() / "fresh" / "new").size(), 1u);
}

TEST(Maildir, LeftoverTmpFromCrashedAttemptIsReplaced) {
    TempDir t;
    const stdfs::path md = t.path() / "md";
    MaildirCopy c = basic_copy(md);
    ASSERT_TRUE(deliver_maildir(c).ok);
    const std::string name = names(md / "new").at(0);
    stdfs::rename(md / "new" / name, md / "tmp" / name);  // as if we crashed before the rename
    std::ofstream(md / "tmp" / name, std::ios::trunc) << "partial";
    ASSERT_TRUE(deliver_maildir(c).ok);
    EXPECT_TRUE(names(md / "tmp").empty());
    EXPECT_EQ(names(md / "new"), std::vector<std::string>{name});
    EXPECT_EQ(stdfs::file_size(md / "new" / name), std::stoul(name.substr(name.rfind('=') + 1)));
}

TEST(Maildir, MaildirPathThatIsAFileIsPermanent) {
    TempDir t;
    std::ofstream(t.path() / "file") << "x";
    for (bool check : {false, true}) {
        MaildirCopy c = basic_copy(t.path() / "file");
        c.check_existing = check;
        MaildirResult r = deliver_maildir(c);
        EXPECT_FALSE(r.ok);
        EXPECT_TRUE(r.permanent) << r.error;
        EXPECT_EQ(r.err_no, ENOTDIR);
        EXPECT_FALSE(r.error.empty());
    }
}

TEST(Maildir, PathUnderARegularFileIsPermanent) {
    TempDir t;
    std::ofstream(t.path() / "file") << "x";
    MaildirResult r = deliver_maildir(basic_copy(t.path() / "file" / "sub" / "Maildir"));
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(r.permanent);
    EXPECT_EQ(r.err_no, ENOTDIR);
}

TEST(Maildir, NewThatIsAFileIsPermanentAndLeavesNoTmp) {
    TempDir t;
    const stdfs::path md = t.path() / "md";
    stdfs::create_directories(md / "tmp");
    stdfs::create_directories(md / "cur");
    std::ofstream(md / "new") << "x";
    MaildirResult r = deliver_maildir(basic_copy(md));
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(r.permanent) << r.error;
    EXPECT_TRUE(names(md / "tmp").empty());
}

TEST(Maildir, UnwritableDirectoryFailsTransientlyWithoutTmpFiles) {
    if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
    TempDir t;
    const stdfs::path md = t.path() / "md";
    ASSERT_TRUE(deliver_maildir(basic_copy(md)).ok);
    ::chmod((md / "tmp").c_str(), 0500);
    MaildirCopy c = basic_copy(md);
    c.unique = maildir_unique_name(1700000000123456, "0123456789ABCDEF", 1);
    MaildirResult r = deliver_maildir(c);
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.permanent);
    EXPECT_EQ(r.err_no, EACCES);
    ::chmod((md / "tmp").c_str(), 0700);
    EXPECT_TRUE(names(md / "tmp").empty());

    ::chmod((md / "new").c_str(), 0500);
    r = deliver_maildir(c);
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.permanent);
    ::chmod((md / "new").c_str(), 0700);
    EXPECT_TRUE(names(md / "tmp").empty());
    EXPECT_EQ(names(md / "new").size(), 1u);
}

TEST(Maildir, BadArgumentsFail) {
    TempDir t;
    MaildirCopy c = basic_copy(t.path() / "md");
    c.unique = "";
    EXPECT_FALSE(deliver_maildir(c).ok);
    c.unique = "../escape";
    EXPECT_FALSE(deliver_maildir(c).ok);
    EXPECT_FALSE(stdfs::exists(t.path() / "escape"));
}

// Batched durability: the copy is written and renamed, and the caller learns where it is so it can
// sync its file system (or take the copy back).
TEST(Maildir, UnsyncedCopyReportsPathAndDevice) {
    TempDir t;
    const stdfs::path md = t.path() / "md";
    MaildirCopy c = basic_copy(md);
    c.sync = false;
    MaildirResult r = deliver_maildir(c);
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(names(md / "new").size(), 1u);
    EXPECT_EQ(r.path, (md / "new" / names(md / "new").at(0)).string());
    struct stat st {};
    ASSERT_EQ(::stat(md.c_str(), &st), 0);
    EXPECT_EQ(r.device, static_cast<std::uint64_t>(st.st_dev));
    EXPECT_EQ(sync_filesystem(r.path), 0);
    EXPECT_NE(sync_filesystem((t.path() / "missing").string()), 0);
}

// After a power loss, a copy written without its own fsync can be a name with no (or wrong) data.
// A retry must replace it, not count it as delivered.
// Delivers basic_copy(md) once; returns the copy's file name in new/ and its content.
std::pair<std::string, std::string> deliver_once(const MaildirCopy& c, const stdfs::path& md) {
    EXPECT_TRUE(deliver_maildir(c).ok);
    const std::string name = names(md / "new").at(0);
    return {name, slurp(md / "new" / name)};
}

TEST(Maildir, CheckExistingReplacesADamagedCopyInNew) {
    TempDir t;
    const stdfs::path md = t.path() / "md";
    MaildirCopy c = basic_copy(md);
    const auto [name, good] = deliver_once(c, md);
    for (const std::string& damage :
         {std::string(), good.substr(0, 10), good + "x", std::string(good.size(), '\0')}) {
        std::ofstream(md / "new" / name, std::ios::trunc | std::ios::binary) << damage;
        c.check_existing = true;
        MaildirResult r = deliver_maildir(c);
        ASSERT_TRUE(r.ok) << r.error;
        EXPECT_FALSE(r.already_present) << damage.size();
        EXPECT_EQ(names(md / "new"), std::vector<std::string>{name});
        EXPECT_EQ(slurp(md / "new" / name), good);
    }
    // An intact copy still counts, and is left alone.
    MaildirResult r = deliver_maildir(c);
    EXPECT_TRUE(r.already_present);
}

TEST(Maildir, CheckExistingDeliversBesideADamagedCopyInCur) {
    TempDir t;
    const stdfs::path md = t.path() / "md";
    MaildirCopy c = basic_copy(md);
    const auto [name, good] = deliver_once(c, md);
    stdfs::rename(md / "new" / name, md / "cur" / (name + ":2,S"));
    std::ofstream(md / "cur" / (name + ":2,S"), std::ios::trunc) << "";
    c.check_existing = true;
    MaildirResult r = deliver_maildir(c);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_FALSE(r.already_present);
    EXPECT_EQ(slurp(md / "new" / name), good);
    EXPECT_EQ(names(md / "cur").size(), 1u);  // the reader's file is not ours to delete
}

}  // namespace
}  // namespace sluice::delivery
