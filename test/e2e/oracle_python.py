"""The optional Python oracle (transformers, TRL) for the e2e scripts: one
definition, imported by the scripts that compare with it."""
import os
import sys


def use_oracle_python(module):
    """Re-runs this script with $HONE_ORACLE_PYTHON or the build's optional
    venv (build/pyvenv) when the running Python lacks `module`."""
    try:
        __import__(module)
        return
    except ImportError:
        pass
    if os.environ.get("HONE_ORACLE_REEXEC"):
        return
    for cand in (os.environ.get("HONE_ORACLE_PYTHON"),
                 os.path.join(os.environ.get("HONE_BINARY_DIR", ""), "pyvenv", "bin", "python")):
        if cand and os.path.exists(cand):
            os.environ["HONE_ORACLE_REEXEC"] = "1"
            os.execv(cand, [cand] + sys.argv)
