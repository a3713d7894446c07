// Data-parallel ranks over MPI (Open MPI from Debian) for compiled jobs on
// the CPU. A job started by `mpirun -np N ./job` joins the MPI world; one
// started directly is a single rank and never touches MPI. Reductions are a
// reduce to rank 0 followed by a broadcast, so every rank holds the same
// bits (an allreduce may sum in a different order on each rank).
#pragma once

#include <cstddef>

namespace hone::dist {

struct Comm {
  int rank = 0, size = 1;
  bool mpi = false; // joined an MPI world (started by mpirun)
  /// The watchdog: a reduction waits at most this long for the other
  /// ranks; then every rank that can still run ends (exit 1) with a message
  /// naming the ranks that did not arrive.
  double timeoutSec = 300;

  /// Joins the MPI world when the environment says mpirun started this
  /// process (OMPI_COMM_WORLD_SIZE or PMI_SIZE); else stays a single rank.
  /// Returns false (with `why`) when MPI is needed but not built in.
  bool init(int *argc, char ***argv, const char **why);
  void finalize();
  /// Ends every rank (a failure on one must not leave the others waiting).
  [[noreturn]] void abort(int code);
  /// Sums over the ranks, in place; every rank gets rank 0's result.
  void sum(float *x, size_t n);
  void sum(double *x, size_t n);
  /// Every rank gets rank 0's `x` (in pieces of at most 2^30 values).
  void broadcast(float *x, size_t n);
  /// Whether every rank passed the same `v` (compares the sums of v and v²).
  bool same(double v);
};

} // namespace hone::dist
