// temp_dir.hpp: a fresh directory under /tmp for one test, removed with everything in it at the
// end (permissions a test took away are restored first, so the cleanup always works).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace sluice::test {

class TempDir {
  public:
    explicit TempDir(const std::string& prefix = "sluice-test") {
        std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() {
        namespace stdfs = std::filesystem;
        std::error_code ec;
        for (auto it = stdfs::recursive_directory_iterator(path_, ec);
             !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
            if (it->is_directory(ec)) stdfs::permissions(it->path(), stdfs::perms::owner_all, ec);
        }
        stdfs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

}  // namespace sluice::test
