// Raw file helpers for the harness (std::filesystem, C++17).
#include "file_io.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace faceid {

std::vector<std::string> ListBinFiles(const std::string &dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw std::runtime_error(dir + ": input directory not found");
  std::vector<std::string> files;
  for (const auto &entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".bin") files.push_back(entry.path().string());
  }
  if (ec) throw std::runtime_error(dir + ": cannot list directory (" + ec.message() + ")");
  if (files.empty()) throw std::runtime_error(dir + ": no .bin input files");
  std::sort(files.begin(), files.end(), [](const std::string &a, const std::string &b) {
    return fs::path(a).filename().string() < fs::path(b).filename().string();
  });
  return files;
}

std::vector<std::string> ReadListFile(const std::string &list_path) {
  std::ifstream in(list_path);
  if (!in) throw std::runtime_error(list_path + ": cannot open input list");
  fs::path base = fs::path(list_path).parent_path();
  std::vector<std::string> files;
  std::string line;
  while (std::getline(in, line)) {
    line.erase(line.find_last_not_of(" \t\r") + 1);
    line.erase(0, line.find_first_not_of(" \t"));
    if (line.empty()) continue;
    fs::path p(line);
    files.push_back((p.is_absolute() ? p : base / p).string());
  }
  if (files.empty()) throw std::runtime_error(list_path + ": input list is empty");
  return files;
}

std::string Stem(const std::string &path) { return fs::path(path).stem().string(); }

void CheckSize(const std::string &path, size_t bytes) {
  std::error_code ec;
  uintmax_t size = fs::file_size(path, ec);
  if (ec) throw std::runtime_error(path + ": cannot read input file (" + ec.message() + ")");
  if (size != bytes) {
    throw std::runtime_error(path + ": input file has " + std::to_string(size) + " bytes, the model input needs " +
                             std::to_string(bytes) + " (float32 per image)");
  }
}

void ReadExact(const std::string &path, void *dst, size_t bytes) {
  CheckSize(path, bytes);
  std::ifstream in(path, std::ios::binary);
  if (!in || !in.read(static_cast<char *>(dst), static_cast<std::streamsize>(bytes))) {
    throw std::runtime_error(path + ": cannot read input file");
  }
}

void WriteBytes(const std::string &path, const void *src, size_t bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out || !out.write(static_cast<const char *>(src), static_cast<std::streamsize>(bytes))) {
    throw std::runtime_error(path + ": cannot write output file");
  }
}

void MakeDirs(const std::string &dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error(dir + ": cannot create directory (" + ec.message() + ")");
}

}  // namespace faceid
