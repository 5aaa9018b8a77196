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

}  // namespace sluice
