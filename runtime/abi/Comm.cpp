#include "runtime/abi/Comm.h"

#include <cstdlib>
#include <initializer_list>

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
    if (!done)
      MPI_Finalize();
  }
#endif
  mpi = false;
}

void Comm::abort(int code) {
#ifdef HONE_HAVE_MPI
  if (mpi && size > 1)
    MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

#ifdef HONE_HAVE_MPI
namespace {
/// Reduce to rank 0, then broadcast: every rank holds rank 0's bits.
void reduceBcast(void *x, size_t n, MPI_Datatype type, int rank) {
  if (rank == 0)
    MPI_Reduce(MPI_IN_PLACE, x, int(n), type, MPI_SUM, 0, MPI_COMM_WORLD);
  else
    MPI_Reduce(x, nullptr, int(n), type, MPI_SUM, 0, MPI_COMM_WORLD);
  MPI_Bcast(x, int(n), type, 0, MPI_COMM_WORLD);
}
} // namespace
#endif

void Comm::sum(float *x, size_t n) {
#ifdef HONE_HAVE_MPI
  if (size > 1 && n > 0)
    reduceBcast(x, n, MPI_FLOAT, rank);
#endif
}

void Comm::sum(double *x, size_t n) {
#ifdef HONE_HAVE_MPI
  if (size > 1 && n > 0)
    reduceBcast(x, n, MPI_DOUBLE, rank);
#endif
}

bool Comm::same(double v) {
  double s[2] = {v, v * v};
  sum(s, 2);
  return s[0] == size * v && s[1] == size * v * v;
}

} // namespace hone::dist
