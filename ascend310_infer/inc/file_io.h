// Raw float32 input/output files of the harness: listing, reading, writing.
#ifndef FACEID_INFER_FILE_IO_H_
#define FACEID_INFER_FILE_IO_H_

#include <cstddef>
#include <string>
#include <vector>

namespace faceid {

// The *.bin files of a directory, sorted by file name (byte order); throws if none or unreadable.
std::vector<std::string> ListBinFiles(const std::string &dir);

// Paths listed one a line in a text file (blank lines skipped; relative paths are taken
// relative to the list's directory); throws if the list is unreadable or empty.
std::vector<std::string> ReadListFile(const std::string &list_path);

// File name without directory and last extension: "a/b/0007.bin" -> "0007".
std::string Stem(const std::string &path);

// Throws naming the file if it is missing/unreadable or its size is not `bytes` (both sizes given).
void CheckSize(const std::string &path, size_t bytes);

// Reads exactly `bytes` bytes into `dst` (after CheckSize); throws naming the file on failure.
void ReadExact(const std::string &path, void *dst, size_t bytes);

// Writes `bytes` bytes; throws naming the file on failure.
void WriteBytes(const std::string &path, const void *src, size_t bytes);

// Creates a directory and its parents if absent; throws on failure.
void MakeDirs(const std::string &dir);

}  // namespace faceid

#endif  // FACEID_INFER_FILE_IO_H_
