#include "common/sync_dir.hpp"

#include <fcntl.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

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
    if (::fstatfs(fd_, &st) == 0)
        needs_file_flush_ = static_cast<unsigned long>(st.f_type) != kExtMagic;
}

FileSystemSync::~FileSystemSync() {
    if (fd_ >= 0) ::close(fd_);
}

int FileSystemSync::sync() {
    if (fd_ < 0) return open_err_;
    return ::syncfs(fd_) == 0 ? 0 : errno;
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
