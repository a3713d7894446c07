"""Set-up shared by the multi-rank e2e scripts (ranks.py, ranks_resume.py,
ranks_sync.py, rank_watchdog.py): skip (exit 77) unless mpirun exists and
the runtime was linked with MPI, start from an empty work directory, and the
environment mpirun needs (root allowed, passive OpenMP waits, a session
directory of its own)."""
import atexit
import os
import shutil
import sys
import tempfile


def setup(honec, work):
    """Returns the environment for mpirun; exits 77 where ranks cannot run."""
    link = os.path.join(os.path.dirname(honec), "..", "lib", "hone-link.txt")
    if not shutil.which("mpirun") or not os.path.exists(link) or \
            "mpi" not in open(link).read():
        print("skip: no mpirun or no MPI in the runtime")
        sys.exit(77)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    # Each mpirun gets its own session directory: two mpiruns started at
    # the same moment (ctest -j2) race to create /tmp/ompi.<host>.<uid>
    # and one fails with "File exists" (seen in CI, 2026-12-07). Short and
    # under /tmp, because PMIx puts a Unix socket (108-byte path) in it.
    session = tempfile.mkdtemp(prefix="hone-ompi-")
    atexit.register(shutil.rmtree, session, True)
    return dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1",
                OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_WAIT_POLICY="passive",
                OMPI_MCA_orte_tmpdir_base=session)
