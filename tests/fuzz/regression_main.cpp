// Runs a libFuzzer target over every file of its corpus directories without
// libFuzzer: the GCC build turns each fuzz target into a regression test, so
// every crash the fuzzer ever found (kept under tests/fuzz/corpus/<target>/)
// is replayed by every test run.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  std::size_t files = 0;
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    std::vector<std::filesystem::path> paths;
    if (std::filesystem::is_directory(argv[i], ec)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(argv[i])) {
        if (e.is_regular_file()) paths.push_back(e.path());
      }
    } else {
      paths.emplace_back(argv[i]);
    }
    for (const auto& p : paths) {
      std::ifstream f(p, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      // Exactly the allocation libFuzzer gives: reads past the end are caught
      // by the sanitizer build.
      const auto copy = std::make_unique<std::uint8_t[]>(bytes.size() + 1);
      std::memcpy(copy.get(), bytes.data(), bytes.size());
      LLVMFuzzerTestOneInput(bytes.empty() ? nullptr : copy.get(), bytes.size());
      ++files;
    }
  }
  std::printf("%zu inputs replayed\n", files);
  return files == 0 ? 1 : 0;
}
