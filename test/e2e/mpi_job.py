"""Set-up shared by the multi-rank e2e scripts (ranks.py, ranks_resume.py,
ranks_sync.py, rank_watchdog.py): skip (exit 77) unless mpirun exists and
the runtime was linked with MPI, start from an empty work directory, and the
environment mpirun needs (root allowed, passive OpenMP waits)."""
import os
import shutil
import sys


def setup(honec, work):
    """Returns the environment for mpirun; exits 77 where ranks cannot run."""
    link = os.path.join(os.path.dirname(honec), "..", "lib", "hone-link.txt")
    if not shutil.which("mpirun") or not os.path.exists(link) or \
            "mpi" not in open(link).read():
        print("skip: no mpirun or no MPI in the runtime")
        sys.exit(77)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    return dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1",
                OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_WAIT_POLICY="passive")
