#include "common/sync_dir.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace sluice {

int sync_directory(const std::string& dir) {
    int fd;
    do {
        fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
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
    int fd;
    do {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno;
    const int err = ::syncfs(fd) == 0 ? 0 : errno;
    ::close(fd);
    return err;
}

FileSystemSync::FileSystemSync(const std::string& path) {
    do {
        fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) open_err_ = errno;
}

FileSystemSync::~FileSystemSync() {
    if (fd_ >= 0) ::close(fd_);
}

int FileSystemSync::sync() {
    if (fd_ < 0) return open_err_;
    return ::syncfs(fd_) == 0 ? 0 : errno;
}

}  // namespace sluice
