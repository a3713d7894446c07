// Runs the runtime's start on a pipeline configuration read from a file:
// hone_rt_begin with the JSON the generated code would hand it (run
// directory OUT), then hone_rt_end. For mutate_config.py, which feeds it
// mutated configurations: each must start and end (exit 0) or stop with a
// one-line error (exit 1), never crash.
//   hone-config-probe CONFIG.json OUT
#include "runtime/abi/hone_runtime.h"

#include <fstream>
#include <sstream>
#include <string>

int main(int argc, char **argv) {
  if (argc != 3)
    return 2;
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string config = ss.str();
  char a0[] = "job", a1[] = "--out", a2[] = "--progress", a3[] = "off";
  char *args[] = {a0, a1, argv[2], a2, a3, nullptr};
  hone_job *job = hone_rt_begin(HONE_RT_ABI_VERSION, 5, args, "probe",
                                config.c_str(), "", "");
  if (!job)
    return 0;
  return hone_rt_end(job);
}
