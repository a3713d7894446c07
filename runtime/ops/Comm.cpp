#include "runtime/ops/Comm.h"
#include "runtime/job/Offload.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#ifdef HONE_HAVE_MPI
// The C API only (Open MPI's deprecated C++ bindings need libmpi_cxx).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace hone::dist {

namespace {
bool startedByMpirun() {
  for (const char *v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (const char *s = std::getenv(v); s && *s)
      return true;
  return false;
}
} // namespace

#ifdef HONE_HAVE_MPI
namespace {
// The watchdog's state (below): tags of its messages, rank 0's word to the
// others (polled for the whole job), the reductions' sequence number.
constexpr int kTagSilent = 7102, kTagPing = 7103, kTagPong = 7104;
MPI_Request gSilentReq = MPI_REQUEST_NULL;
char gSilentMsg[256];
long long gPong = 1;
} // namespace
#endif

bool Comm::init(int *argc, char ***argv, const char **why) {
  if (!startedByMpirun())
    return true;
#ifdef HONE_HAVE_MPI
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited)
    MPI_Init(argc, argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  mpi = true;
  if (rank > 0 && size > 1) // the watchdog's word from rank 0
    MPI_Irecv(gSilentMsg, int(sizeof(gSilentMsg)), MPI_CHAR, 0, kTagSilent,
              MPI_COMM_WORLD, &gSilentReq);
  return true;
#else
  *why = "this job was started by mpirun, but the runtime was built without "
         "MPI (install libopenmpi-dev and rebuild)";
  return false;
#endif
}

void Comm::finalize() {
#ifdef HONE_HAVE_MPI
  if (mpi) {
    int done = 0;
    MPI_Finalized(&done);
    if (!done) {
      if (gSilentReq != MPI_REQUEST_NULL) {
        MPI_Cancel(&gSilentReq);
        MPI_Wait(&gSilentReq, MPI_STATUS_IGNORE);
      }
      MPI_Finalize();
    }
  }
#endif
  mpi = false;
}

void Comm::abort(int code) {
  hone::job::removeAllOffloadFiles(); // no exit handlers run
#ifdef HONE_HAVE_MPI
  if (mpi && size > 1)
    MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

#ifdef HONE_HAVE_MPI
namespace {
// The watchdog. A reduction is non-blocking and polled against a deadline;
// while waiting, ranks r > 0 answer rank 0's pings. Past the deadline rank 0
// pings every rank: those that do not answer within a second are the silent
// ones. It tells the others (a message they poll for the whole job), prints
// and aborts the world. A rank r > 0 waits a little longer, so that rank 0
// speaks first; without a word from it, rank 0 is the silent one.
double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void watchdogFail(int rank, const std::string &what) {
  std::fprintf(stderr, "error: rank %d: %s\n", rank, what.c_str());
  std::fflush(nullptr);
  hone::job::removeAllOffloadFiles();
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

void answerPings() {
  int flag = 0;
  MPI_Status st;
  MPI_Iprobe(0, kTagPing, MPI_COMM_WORLD, &flag, &st);
  if (!flag)
    return;
  long long v = 0;
  MPI_Recv(&v, 1, MPI_LONG_LONG, 0, kTagPing, MPI_COMM_WORLD,
           MPI_STATUS_IGNORE);
  MPI_Request q;
  MPI_Isend(&gPong, 1, MPI_LONG_LONG, 0, kTagPong, MPI_COMM_WORLD, &q);
  MPI_Request_free(&q);
}

/// Rank 0: the ranks that do not answer a ping within a second.
std::string silentRanks(const Comm &c) {
  std::vector<MPI_Request> pongs(size_t(c.size - 1));
  std::vector<long long> in(size_t(c.size - 1));
  long long ping = 1;
  for (int r = 1; r < c.size; ++r) {
    MPI_Request q;
    MPI_Isend(&ping, 1, MPI_LONG_LONG, r, kTagPing, MPI_COMM_WORLD, &q);
    MPI_Request_free(&q);
    MPI_Irecv(&in[size_t(r - 1)], 1, MPI_LONG_LONG, r, kTagPong,
              MPI_COMM_WORLD, &pongs[size_t(r - 1)]);
  }
  double until = now() + 1.0;
  int done = 0;
  while (!done && now() < until) {
    MPI_Testall(int(pongs.size()), pongs.data(), &done, MPI_STATUSES_IGNORE);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::string silent;
  for (size_t r = 0; r < pongs.size(); ++r) {
    int got = pongs[r] == MPI_REQUEST_NULL;
    if (!got)
      MPI_Test(&pongs[r], &got, MPI_STATUS_IGNORE);
    if (!got)
      silent += (silent.empty() ? "" : ", ") + std::to_string(r + 1);
  }
  return silent;
}

/// Polls `req` until it completes, or ends the job past `deadline`.
void waitFor(MPI_Request &req, const Comm &c, double deadline) {
  double t0 = now();
  for (;;) {
    int done = 0;
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done)
      return;
    if (c.rank > 0) {
      answerPings();
      int got = 0;
      if (gSilentReq != MPI_REQUEST_NULL)
        MPI_Test(&gSilentReq, &got, MPI_STATUS_IGNORE);
      if (got)
        watchdogFail(c.rank, std::string("rank 0 ends the job: ") +
                                 gSilentMsg);
    }
    double t = now();
    if (t > deadline) {
      std::string silent = c.rank == 0 ? silentRanks(c) : "0";
      char secs[32];
      std::snprintf(secs, sizeof(secs), "%g", c.timeoutSec);
      std::string what =
          "no answer from rank " + (silent.empty() ? "?" : silent) +
          " in a reduction for " + secs +
          " s (hardware.collective_timeout_s): a rank is frozen, stopped or "
          "much slower; ending the job";
      if (c.rank == 0) {
        std::snprintf(gSilentMsg, sizeof(gSilentMsg), "%s", what.c_str());
        for (int r = 1; r < c.size; ++r) {
          MPI_Request q;
          MPI_Isend(gSilentMsg, int(sizeof(gSilentMsg)), MPI_CHAR, r,
                    kTagSilent, MPI_COMM_WORLD, &q);
          MPI_Request_free(&q);
        }
        // Let the messages go out before the abort.
        double until = now() + 0.5;
        while (now() < until) {
          int flag = 0;
          MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag,
                     MPI_STATUS_IGNORE);
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
      watchdogFail(c.rank, what);
    }
    if (t - t0 > 0.001) // past a millisecond, stop spinning
      std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

/// Reduce to rank 0, then broadcast: every rank holds rank 0's bits.
void reduceBcast(void *x, size_t n, MPI_Datatype type, const Comm &c) {
  // Ranks r > 0 wait a ping round (1 s) and a margin longer than rank 0.
  double deadline = now() + c.timeoutSec + (c.rank > 0 ? 3.0 : 0.0);
  MPI_Request req;
  if (c.rank == 0)
    MPI_Ireduce(MPI_IN_PLACE, x, int(n), type, MPI_SUM, 0, MPI_COMM_WORLD,
                &req);
  else
    MPI_Ireduce(x, nullptr, int(n), type, MPI_SUM, 0, MPI_COMM_WORLD, &req);
  waitFor(req, c, deadline);
  MPI_Ibcast(x, int(n), type, 0, MPI_COMM_WORLD, &req);
  waitFor(req, c, deadline);
}
} // namespace
#endif

void Comm::sum(float *x, size_t n) {
#ifdef HONE_HAVE_MPI
  if (size > 1 && n > 0)
    reduceBcast(x, n, MPI_FLOAT, *this);
#endif
}

void Comm::sum(double *x, size_t n) {
#ifdef HONE_HAVE_MPI
  if (size > 1 && n > 0)
    reduceBcast(x, n, MPI_DOUBLE, *this);
#endif
}

void Comm::broadcast(float *x, size_t n) {
#ifdef HONE_HAVE_MPI
  if (size <= 1)
    return;
  constexpr size_t kPiece = size_t(1) << 30;
  for (size_t at = 0; at < n; at += kPiece) {
    double deadline = now() + timeoutSec + (rank > 0 ? 3.0 : 0.0);
    MPI_Request req;
    MPI_Ibcast(x + at, int(std::min(kPiece, n - at)), MPI_FLOAT, 0,
               MPI_COMM_WORLD, &req);
    waitFor(req, *this, deadline);
  }
#else
  (void)x;
  (void)n;
#endif
}

bool Comm::same(double v) {
  double s[2] = {v, v * v};
  sum(s, 2);
  return s[0] == size * v && s[1] == size * v * v;
}

} // namespace hone::dist
