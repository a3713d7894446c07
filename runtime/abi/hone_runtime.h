/* hone_runtime.h — the C ABI between code that honec generates and Hone's
 * runtime. Versioned: generated code passes HONE_RT_ABI_VERSION to
 * hone_rt_begin, which refuses a mismatch with a one-line error.
 *
 * Shape of the ABI. Stage- and step-level ops of the hone dialect are not
 * given one C function each: generated code calls one entry point per kind of
 * thing, naming the op and passing its attributes as JSON, its objects as
 * handles and its tensors as descriptors. The ABI thus mirrors the dialect's
 * generic op form; the runtime validates every call (op known, counts, dtypes
 * and shapes as the op's documentation says) and reports a mismatch as an
 * error at the op's spec location. Which ops exist and which attributes each
 * carries is one table, runtime/abi/step_ops.inl, that honec's lowering and
 * the runtime both use: the runtime checks every call's attributes against
 * the op's row (required ones present, each of its kind, no others). New
 * ops need no new ABI, only a row and a runtime implementation; the version
 * changes when a calling convention does (v3: attributes checked against
 * the table).
 *
 * Errors. A runtime function never returns on failure: it prints one line
 * "LOC: error: WHAT" (LOC is the `loc` argument, the op's location in the
 * spec, e.g. "spec.textproto:30:3"), flushes metrics, and exits with code 1.
 * Checkpoints are atomic, so a failure never loses a completed one.
 *
 * Threads and lanes. All calls come from the generated main thread. A step
 * whose attributes name a lane ("lane": "rollout" | "learn" | "copy" |
 * "comm", set by hone-assign-lanes) is queued on that lane's worker thread
 * and the call returns at once; a lane runs its steps in call order, and
 * steps of different lanes are ordered only by the events the generated
 * code records and waits for (hone_rt_event). A step without a lane, or
 * "lane": "host", runs inline after every lane has drained, as do the
 * object, stage and step-end calls and hone_rt_sync. Results are the same
 * whatever the interleaving: a step's inputs are complete when it starts
 * and nothing else writes its outputs while it runs. `./job --lanes off`
 * (and the CUDA backend, for now) runs every step inline; `--lanes auto`,
 * the default, uses lane threads on machines with 4 or more hardware
 * threads.
 */
#ifndef HONE_RUNTIME_ABI_HONE_RUNTIME_H
#define HONE_RUNTIME_ABI_HONE_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HONE_RT_ABI_VERSION 3

typedef struct hone_job hone_job;

/* Element types of tensors crossing the ABI. */
enum hone_dtype {
  HONE_F32 = 0,
  HONE_F64 = 1,
  HONE_I32 = 2,
  HONE_I64 = 3,
  HONE_I1 = 4 /* one byte, 0 or 1 */
};

/* A dense, row-major tensor of rank 0, 1 or 2 owned by the caller (generated
 * code allocates every buffer; the runtime never keeps a pointer past the
 * call). shape[i] for i >= rank is ignored. */
typedef struct hone_tensor {
  void *data;
  int32_t dtype; /* enum hone_dtype */
  int32_t rank;
  int64_t shape[2];
} hone_tensor;

/* A generated loss kernel in the packed convention: args[i] is the i-th
 * argument of the kernel `void k(T *a0, ..., T *loss, T *metric..., T
 * *grad...)` (docs/methods.md), i.e. a pointer to a dense buffer. */
typedef void (*hone_loss_fn)(void **args);

/* --- the job ------------------------------------------------------------ */

/* Parses the job's command line (--device, --out, --resume, --help, …),
 * creates or reopens the run directory, writes the resolved spec and the
 * compiled IR there, and opens metrics. `config_json` is the hone.pipeline
 * op's `config` dictionary as JSON. Returns NULL only for --help/--version
 * (the caller then exits 0). */
hone_job *hone_rt_begin(int32_t abi_version, int32_t argc, char **argv,
                        const char *pipeline_name, const char *config_json,
                        const char *spec_text, const char *ir_text);

/* Writes the final report, closes metrics; returns the process exit code. */
int32_t hone_rt_end(hone_job *job);

/* The pipeline's arena of step buffers: `bytes` zeroed bytes, 64-byte
 * aligned, owned by the job (freed by hone_rt_end). Allocated at run time:
 * a static arena past 2 GiB overflows the code model when linking. Ends the
 * job with an error if the memory cannot be had. */
void *hone_rt_arena(hone_job *job, int64_t bytes);

/* --- objects: models, datasets, rewards, buffers ------------------------ */

/* Creates the object of a stage-level op that yields one: `op` is the op
 * name without "hone." ("model.init", "model.load", "model.new_head",
 * "dataset", "reward.verifier", "reward.model", "reward.external",
 * "reward.combine", "buffer.init"), `attrs_json` its attributes (the
 * model's #hone.arch and head included, as {"arch": {...}, "head": "lm"}),
 * `objs` its object operands. Also "exec.snapshot": a frozen copy of
 * objs[0], which the compiler inserts where a model state that a later op
 * trains in place is still read afterwards (a frozen reference). */
void *hone_rt_object(hone_job *job, const char *loc, const char *op,
                     const char *attrs_json, int32_t n_objs, void **objs);

/* --- stages --------------------------------------------------------------- */

/* Opens stage `name` (the loop of `steps` steps that hone-expand-stages made
 * of a stage op) training `models` (optimiser settings in attrs_json). Returns
 * the first step to run: 0, or on --resume the step after the checkpoint
 * (== steps when the stage finished before it). */
int64_t hone_rt_stage_begin(hone_job *job, const char *loc, const char *name,
                            int64_t steps, const char *attrs_json,
                            int32_t n_models, void **models);
/* After step `step` (0-based) of the open stage: metrics, progress,
 * periodic checkpoints, NaN policy. */
void hone_rt_step_end(hone_job *job, int64_t step);
void hone_rt_stage_end(hone_job *job);

/* --- steps ---------------------------------------------------------------- */

/* Runs step op `op` ("data.next", "data.fetch", "generate", "logprob",
 * "value", "score", "shape_reward", "advantage", "group_accuracy",
 * "group_filter", "buffer.push", "buffer.pop", "schedule", "sync_weights",
 * "eval_step", "save", ...): objects in `objs` (models, datasets, rewards,
 * buffers, in operand order), tensor operands in `in` (index operands such as
 * the step number as rank-0 HONE_I64), results written into the caller's
 * buffers `out` (in result order, objects excluded: an op that yields an
 * updated buffer object updates objs[i] in place). */
void hone_rt_step(hone_job *job, const char *loc, const char *op,
                  const char *attrs_json, int32_t n_objs, void **objs,
                  int32_t n_in, const hone_tensor *in, int32_t n_out,
                  hone_tensor *out);

/* hone.train_step: forward of `models` over in[0..n_tokens) (token tensors),
 * the generated `kernel` on the model outputs named by attrs "reads" and the
 * remaining inputs, backward, gradient clipping and the optimiser step, in
 * place. out[0] is the loss (rank 0), then the metrics the kernel yields. */
void hone_rt_train_step(hone_job *job, const char *loc, const char *attrs_json,
                        int32_t n_models, void **models, hone_loss_fn kernel,
                        int32_t n_tokens, int32_t n_in, const hone_tensor *in,
                        int32_t n_out, hone_tensor *out);

/* --- lanes and events ------------------------------------------------------ */

/* kind 0 (record): queues on `lane` the record of `event` after the steps
 * queued there so far. kind 1 (wait): steps queued on `lane` after this call
 * start only after the latest record of `event` made before this call (in
 * call order) has happened. Events are numbered from 0 by the compiler. */
void hone_rt_event(hone_job *job, const char *lane, int32_t kind,
                   int64_t event);
/* The host waits until every lane is idle. */
void hone_rt_sync(hone_job *job);

#ifdef __cplusplus
}
#endif

#endif /* HONE_RUNTIME_ABI_HONE_RUNTIME_H */
