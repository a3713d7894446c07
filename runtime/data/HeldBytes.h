// What a dataset held in memory costs: the bytes the job's DataLoader
// (runtime/job/Batches.h) holds for its records, counted as glibc's malloc
// hands them out (each block rounded to its chunk: 16-byte granules, 8
// bytes of header, at least 32; blocks from mmap, at and above the 128 KiB
// threshold hone_rt_begin fixes, rounded to pages). The compiler counts a
// dataset file with datasetFileHeldBytes (the job's own reader, record by
// record) and plans the result as the dataset's `runtime` row
// (hone-plan-memory: dataset.NAME); the job counts what its loaders hold
// with heapBytes() and loaderArrayBytes() (runtime/ops/Objects.cpp) and
// checks it against the plan. Same code on both sides, so they agree to
// the byte (test: Batches.HeldBytesAreWhatTheLoaderAllocates, which also
// checks the count against what malloc handed out).
#pragma once

#include "runtime/base/Json.h"
#include "runtime/base/Status.h"
#include "runtime/data/Dataset.h"

#include <cstdint>
#include <string>

namespace hone {

/// Bytes glibc's malloc takes for one request of `bytes` (0 for none).
int64_t mallocChunkBytes(int64_t bytes);
/// Heap bytes a value owns beyond its own object (strings longer than the
/// small-string buffer, vectors by capacity, nested values).
int64_t heapBytes(const std::string &s);
int64_t heapBytes(const json::Value &v);
int64_t heapBytes(const Example &ex);

/// Gives back what a value's strings and arrays hold beyond their contents
/// (shrink_to_fit: capacity = size, short strings in their small buffer),
/// so that heapBytes() of the value is that of a copy of it. The loader
/// shrinks each record as it reads it, instead of copying them all at the
/// end (which held every string twice).
void shrinkHeld(std::string &s);
void shrinkHeld(json::Value &v);
void shrinkHeld(Example &ex);

/// What a loader of `records` records holds in its arrays (the examples,
/// the raw records and the visiting order, each exactly `records` long):
/// add heapBytes() of every example and raw record for the whole.
int64_t loaderArrayBytes(int64_t records);

/// Reads `path` as DataLoader::open does (DatasetReader with `options`,
/// the raw JSONL records beside it) and counts what a loader of its first
/// `maxRecords` records (0: all) holds. An error when the file cannot be
/// read as the job would. `longestRecord` (when given): the most heap
/// bytes one record's example holds (the size of the working copies the
/// job makes of a record while it reads, renders and tokenizes it:
/// docs/formats.md "Long records").
Expected<int64_t> datasetFileHeldBytes(const std::string &path,
                                       const DatasetOptions &options,
                                       int64_t maxRecords = 0,
                                       int64_t *longestRecord = nullptr);

} // namespace hone
