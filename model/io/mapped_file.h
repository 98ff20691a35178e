// MappedFile: a whole file memory-mapped read-only (RAII). Checkpoints map
// their files so that a rank touches only the pages of its own blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace meshlm {

class MappedFile {
 public:
  // Throws meshlm::Error naming the path and the system's reason.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  const std::byte* data() const { return data_; }  // nullptr for an empty file

 private:
  std::string path_;
  uint64_t size_ = 0;
  const std::byte* data_ = nullptr;
};

}  // namespace meshlm
