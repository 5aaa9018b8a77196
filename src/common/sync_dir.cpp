#include "common/sync_dir.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace sluice {
namespace {

// open() for reading, retried on EINTR; -1 with errno set on failure.
int open_read(const std::string& path, int extra_flags) {
    int fd;
    do {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | extra_flags);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

}  // namespace

int sync_directory(const std::string& dir) {
    const int fd = open_read(dir, O_DIRECTORY);
    if (fd < 0) return errno;
    int err = 0;
    int rc;
    do {
        rc = ::fsync(fd);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) err = errno;
    ::close(fd);
    return err;
}

int sync_filesystem(const std::string& path) {
    return FileSystemSync(path).sync();
}

FileSystemSync::FileSystemSync(const std::string& path) {
    fd_ = open_read(path, 0);
    if (fd_ < 0) {
        open_err_ = errno;
        return;
    }
    constexpr unsigned long kExtMagic = 0xEF53;  // EXT2/3/4_SUPER_MAGIC (linux/magic.h)
    struct statfs st {};
    if (::fstatfs(fd_, &st) != 0) return;
    const bool ext = static_cast<unsigned long>(st.f_type) == kExtMagic;
    needs_file_flush_ = !ext;
    if (!ext) return;
    int flags = 0;
    struct stat sb {};
    if (::ioctl(fd_, FS_IOC_GETFLAGS, &flags) != 0 || (flags & FS_JOURNAL_DATA_FL) != 0 ||
        ::fstat(fd_, &sb) != 0)
        return;
    // The mount's data mode: /proc/fs/ext4/<device>/options lists it even when it is the
    // superblock's default (mountinfo shows only options that differ from it). Unreadable: no.
    char link[512];
    const std::string sys = "/sys/dev/block/" + std::to_string(major(sb.st_dev)) + ":" +
                            std::to_string(minor(sb.st_dev));
    const ssize_t n = ::readlink(sys.c_str(), link, sizeof link - 1);
    if (n <= 0) return;
    const std::string target(link, static_cast<std::size_t>(n));
    const std::string name = target.substr(target.rfind('/') + 1);
    std::ifstream in("/proc/fs/ext4/" + name + "/options");
    std::stringstream text;
    text << in.rdbuf();
    if (!in || text.str().empty()) return;
    overwrites_in_place_ = !journals_file_data(text.str());
}

FileSystemSync::~FileSystemSync() {
    if (fd_ >= 0) ::close(fd_);
}

int FileSystemSync::sync() {
    if (fd_ < 0) return open_err_;
    return ::syncfs(fd_) == 0 ? 0 : errno;
}

bool journals_file_data(std::string_view options) {
    std::size_t i = 0;
    while (i < options.size()) {
        std::size_t j = options.find_first_of(",\n", i);
        if (j == std::string_view::npos) j = options.size();
        if (options.substr(i, j - i) == "data=journal") return true;
        i = j + 1;
    }
    return false;
}

bool kernel_at_least(const char* release, int major, int minor) {
    int a = 0, b = 0;
    if (std::sscanf(release, "%d.%d", &a, &b) != 2) return false;
    return a > major || (a == major && b >= minor);
}

bool syncfs_reports_errors() {
    struct utsname u {};
    return ::uname(&u) == 0 && kernel_at_least(u.release, 5, 8);
}

}  // namespace sluice
