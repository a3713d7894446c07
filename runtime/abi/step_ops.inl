/* step_ops.inl — the runtime boundary as a table (docs/abi.md).
 *
 * Every op that generated code hands to the runtime through hone_rt_object,
 * hone_rt_step, hone_rt_train_step or hone_rt_stage_begin has one row here,
 * followed by one line per attribute its JSON carries. The compiler's
 * lowering (passes/lower/Calls.cpp) emits exactly these attributes and the
 * runtime (runtime/abi/HoneRuntime.cpp, runtime/ops/) accepts exactly these; a unit
 * test (test/unit/abi/AbiTableTest.cpp) checks the table against the
 * registered hone dialect. Plain C preprocessor: no MLIR here.
 *
 *   HONE_ABI_OBJECT(ID, "op", "objects")   hone_rt_object: yields one object
 *   HONE_ABI_STEP(ID, "op", "objects")     hone_rt_step
 *   HONE_ABI_TRAIN(ID, "op", "objects")    hone_rt_train_step
 *   HONE_ABI_STAGE(ID, "op", "objects")    hone_rt_stage_begin
 *   HONE_ABI_ATTR(ID, NAME, KIND, NEED, FROM)     an attribute of row ID
 *
 * ID: a C identifier naming the row; "op": the op name without "hone.".
 * "objects": the object operands in order, space-separated, each one of
 * model, dataset, reward, buffer, with "?" (optional) or "*" (any number).
 * KIND: I64, F64 (JSON number, or "nan"/"inf"/"-inf"), BOOL, UNIT (a unit
 * attribute: true when set, false when not; always sent), STR (strings and
 * enum keywords), STRS (array of strings), I64S, F64S (arrays), OBJ (a
 * nested JSON object: a settings object, whose members settings.inl lists).
 * NEED: REQ (always sent; a compile error when the op lacks it) or OPT
 * (sent when the op has it; absence has the meaning the op's documentation
 * gives, never a substituted value).
 * FROM: ODS (an attribute the op declares: getInherentAttr), DISC (a
 * discardable attribute a pass sets), LOWER (computed by the lowering from
 * the result type, the objective region or the stage).
 * hone-plan-memory's placements: `plan_model` on the model objects (the
 * plan's id of the model) and `arena` on the ops that create or run models
 * and on stage begins (quadruples: plan model id, kind 0 activations / 1 KV
 * cache / 2 decode workspace / 3 weights / 4 gradients / 5 optimiser
 * moments, offset in the job's arena, bytes; runtime/job/JobArena.h).
 * Every step and train row also accepts "lane" (STR, OPT, LOWER: the lane
 * hone-assign-lanes chose; AbiTable.h kLaneAttr), and every step row "ahead"
 * (I64, OPT, LOWER; kAheadAttr), not repeated below.
 *
 * NAME is a C identifier: runtime/ops/Attrs.h makes each row a struct with
 * one field per attribute (c.typed<abi::OpId::ID>().NAME in the op's body),
 * so a read of an unlisted or mistyped attribute does not compile.
 *
 * A new attribute: add its HONE_ABI_ATTR line directly below its row (a
 * static_assert in Attrs.h checks that), read it as a field in the op's
 * runtime handler and, if FROM is LOWER, pass it from the lowering. A new
 * op: add its row and a handler (the runtime's handler list must name
 * every row). Settings objects carried as OBJ are rows of settings.inl.
 */
#ifndef HONE_ABI_OBJECT
#define HONE_ABI_OBJECT(id, op, objects)
#endif
#ifndef HONE_ABI_STEP
#define HONE_ABI_STEP(id, op, objects)
#endif
#ifndef HONE_ABI_TRAIN
#define HONE_ABI_TRAIN(id, op, objects)
#endif
#ifndef HONE_ABI_STAGE
#define HONE_ABI_STAGE(id, op, objects)
#endif
#ifndef HONE_ABI_ATTR
#define HONE_ABI_ATTR(id, name, kind, need, from)
#endif

/* --- objects -------------------------------------------------------------- */

HONE_ABI_OBJECT(model_init, "model.init", "")
HONE_ABI_ATTR(model_init, name, STR, REQ, ODS)
HONE_ABI_ATTR(model_init, seed, I64, REQ, ODS)
HONE_ABI_ATTR(model_init, arch, OBJ, REQ, LOWER)
HONE_ABI_ATTR(model_init, head, STR, REQ, LOWER)
HONE_ABI_ATTR(model_init, plan_model, I64, OPT, DISC)
HONE_ABI_ATTR(model_init, arena, I64S, OPT, DISC)
HONE_ABI_ATTR(model_init, storage, STR, OPT, DISC)

HONE_ABI_OBJECT(model_load, "model.load", "")
HONE_ABI_ATTR(model_load, name, STR, REQ, ODS)
HONE_ABI_ATTR(model_load, path, STR, REQ, ODS)
HONE_ABI_ATTR(model_load, arch, OBJ, REQ, LOWER)
HONE_ABI_ATTR(model_load, head, STR, REQ, LOWER)
HONE_ABI_ATTR(model_load, storage, STR, OPT, DISC)
HONE_ABI_ATTR(model_load, plan_model, I64, OPT, DISC)
HONE_ABI_ATTR(model_load, arena, I64S, OPT, DISC)

HONE_ABI_OBJECT(model_new_head, "model.new_head", "model")
HONE_ABI_ATTR(model_new_head, name, STR, REQ, ODS)
HONE_ABI_ATTR(model_new_head, seed, I64, REQ, ODS)
HONE_ABI_ATTR(model_new_head, arch, OBJ, REQ, LOWER)
HONE_ABI_ATTR(model_new_head, head, STR, REQ, LOWER)
HONE_ABI_ATTR(model_new_head, plan_model, I64, OPT, DISC)
HONE_ABI_ATTR(model_new_head, arena, I64S, OPT, DISC)

HONE_ABI_OBJECT(model_lora, "model.lora", "model")
HONE_ABI_ATTR(model_lora, name, STR, REQ, ODS)
HONE_ABI_ATTR(model_lora, lora, OBJ, REQ, ODS)
HONE_ABI_ATTR(model_lora, seed, I64, REQ, ODS)
HONE_ABI_ATTR(model_lora, arch, OBJ, REQ, LOWER)
HONE_ABI_ATTR(model_lora, head, STR, REQ, LOWER)
HONE_ABI_ATTR(model_lora, plan_model, I64, OPT, DISC)
HONE_ABI_ATTR(model_lora, arena, I64S, OPT, DISC)

HONE_ABI_OBJECT(exec_snapshot, "exec.snapshot", "model")
HONE_ABI_ATTR(exec_snapshot, arch, OBJ, REQ, LOWER)
HONE_ABI_ATTR(exec_snapshot, head, STR, REQ, LOWER)
HONE_ABI_ATTR(exec_snapshot, storage, STR, OPT, DISC)
HONE_ABI_ATTR(exec_snapshot, plan_model, I64, OPT, DISC)
HONE_ABI_ATTR(exec_snapshot, arena, I64S, OPT, DISC)

HONE_ABI_OBJECT(dataset, "dataset", "")
HONE_ABI_ATTR(dataset, path, STR, REQ, ODS)
HONE_ABI_ATTR(dataset, eval_path, STR, OPT, ODS)
HONE_ABI_ATTR(dataset, settings, OBJ, REQ, ODS)
HONE_ABI_ATTR(dataset, name, STR, OPT, DISC)
HONE_ABI_ATTR(dataset, layout, STR, REQ, LOWER)
HONE_ABI_ATTR(dataset, sha256, STR, OPT, DISC)
HONE_ABI_ATTR(dataset, eval_sha256, STR, OPT, DISC)

HONE_ABI_OBJECT(reward_verifier, "reward.verifier", "")
HONE_ABI_ATTR(reward_verifier, kind, STR, REQ, ODS)
HONE_ABI_ATTR(reward_verifier, pattern, STR, OPT, ODS)
HONE_ABI_ATTR(reward_verifier, tolerance, F64, OPT, ODS)
HONE_ABI_ATTR(reward_verifier, max_length, I64, OPT, ODS)
HONE_ABI_ATTR(reward_verifier, cache_length, I64, OPT, ODS)
HONE_ABI_ATTR(reward_verifier, settings, OBJ, REQ, ODS)
HONE_ABI_ATTR(reward_verifier, name, STR, OPT, DISC)

HONE_ABI_OBJECT(reward_model, "reward.model", "model")
HONE_ABI_ATTR(reward_model, name, STR, OPT, DISC)

HONE_ABI_OBJECT(reward_external, "reward.external", "")
HONE_ABI_ATTR(reward_external, command, STRS, REQ, ODS)
HONE_ABI_ATTR(reward_external, timeout_s, F64, REQ, ODS)
HONE_ABI_ATTR(reward_external, name, STR, OPT, DISC)
HONE_ABI_ATTR(reward_external, workers, I64, REQ, DISC)

HONE_ABI_OBJECT(reward_combine, "reward.combine", "reward*")
HONE_ABI_ATTR(reward_combine, weights, F64S, REQ, ODS)
HONE_ABI_ATTR(reward_combine, name, STR, OPT, DISC)

HONE_ABI_OBJECT(buffer_init, "buffer.init", "")
HONE_ABI_ATTR(buffer_init, capacity, I64, REQ, LOWER)

/* --- stages --------------------------------------------------------------- */

HONE_ABI_STAGE(exec_stage_begin, "exec.stage_begin", "model*")
HONE_ABI_ATTR(exec_stage_begin, name, STR, REQ, ODS)
HONE_ABI_ATTR(exec_stage_begin, steps, I64, REQ, ODS)
HONE_ABI_ATTR(exec_stage_begin, optimizer, OBJ, OPT, LOWER)
HONE_ABI_ATTR(exec_stage_begin, models, STRS, REQ, LOWER)
HONE_ABI_ATTR(exec_stage_begin, settings, OBJ, OPT, LOWER)
HONE_ABI_ATTR(exec_stage_begin, staleness, I64, OPT, DISC)
HONE_ABI_ATTR(exec_stage_begin, arena, I64S, OPT, DISC)
HONE_ABI_ATTR(exec_stage_begin, offload_moments, I64S, OPT, DISC)

/* A pipelined RL stage's rollouts (hone-pipeline-rollouts): the ones it
 * starts with (fresh, or a resumed checkpoint's) and the ones in flight at
 * the next step end (a checkpoint keeps them). */
HONE_ABI_STEP(exec_rollouts_resume, "exec.rollouts_resume", "")
HONE_ABI_STEP(exec_rollouts_in_flight, "exec.rollouts_in_flight", "")

/* --- steps ---------------------------------------------------------------- */

HONE_ABI_STEP(data_next, "data.next", "dataset")
HONE_ABI_ATTR(data_next, part, STR, REQ, ODS)
HONE_ABI_ATTR(data_next, completion_only_loss, BOOL, REQ, ODS)
HONE_ABI_ATTR(data_next, assistant_only_loss, BOOL, REQ, ODS)

HONE_ABI_STEP(data_fetch, "data.fetch", "dataset")
HONE_ABI_ATTR(data_fetch, completion_only_loss, BOOL, REQ, ODS)
HONE_ABI_ATTR(data_fetch, assistant_only_loss, BOOL, REQ, ODS)

HONE_ABI_STEP(generate, "generate", "model")
HONE_ABI_ATTR(generate, n, I64, REQ, ODS)
HONE_ABI_ATTR(generate, temperature, F64, REQ, ODS)
HONE_ABI_ATTR(generate, top_k, I64, REQ, ODS)
HONE_ABI_ATTR(generate, top_p, F64, REQ, ODS)
HONE_ABI_ATTR(generate, greedy, BOOL, REQ, ODS)
HONE_ABI_ATTR(generate, off_policy, I64, REQ, ODS)
HONE_ABI_ATTR(generate, hint_is_fraction, BOOL, REQ, ODS)
HONE_ABI_ATTR(generate, mask_truncated, BOOL, REQ, ODS)
HONE_ABI_ATTR(generate, stop, STRS, OPT, ODS)
HONE_ABI_ATTR(generate, stream_rows, UNIT, OPT, DISC)
HONE_ABI_ATTR(generate, arena, I64S, OPT, DISC)
HONE_ABI_ATTR(generate, release_decode, UNIT, OPT, DISC)
HONE_ABI_ATTR(generate, micro_batch, I64, OPT, DISC)

HONE_ABI_STEP(reference_table, "reference_table", "model dataset")
HONE_ABI_ATTR(reference_table, max_length, I64, REQ, ODS)
HONE_ABI_ATTR(reference_table, rows, I64, REQ, ODS)
HONE_ABI_ATTR(reference_table, release_activations, UNIT, OPT, DISC)
HONE_ABI_ATTR(reference_table, recompute_layers, I64, OPT, DISC)
HONE_ABI_ATTR(reference_table, arena, I64S, OPT, DISC)
HONE_ABI_STEP(reference_rows, "reference_rows", "")
HONE_ABI_STEP(logprob, "logprob", "model")
HONE_ABI_ATTR(logprob, entropy, UNIT, REQ, ODS)
HONE_ABI_ATTR(logprob, temperature, F64, REQ, LOWER)
HONE_ABI_ATTR(logprob, micro_batch, I64, OPT, ODS)
HONE_ABI_ATTR(logprob, release_activations, UNIT, OPT, DISC)
HONE_ABI_ATTR(logprob, recompute_layers, I64, OPT, DISC)
HONE_ABI_ATTR(logprob, packed, UNIT, REQ, LOWER)
HONE_ABI_ATTR(logprob, arena, I64S, OPT, DISC)
HONE_ABI_ATTR(logprob, row_group, I64, OPT, DISC)
HONE_ABI_ATTR(logprob, stream, UNIT, OPT, DISC)

HONE_ABI_STEP(value, "value", "model")
HONE_ABI_ATTR(value, micro_batch, I64, OPT, ODS)
HONE_ABI_ATTR(value, release_activations, UNIT, OPT, DISC)
HONE_ABI_ATTR(value, recompute_layers, I64, OPT, DISC)
HONE_ABI_ATTR(value, packed, UNIT, REQ, LOWER)
HONE_ABI_ATTR(value, arena, I64S, OPT, DISC)

HONE_ABI_STEP(score, "score", "reward")
HONE_ABI_ATTR(score, stream, UNIT, OPT, DISC)
HONE_ABI_ATTR(score, arena, I64S, OPT, DISC)

HONE_ABI_STEP(shape_reward, "shape_reward", "")
HONE_ABI_ATTR(shape_reward, kind, STR, REQ, ODS)
HONE_ABI_ATTR(shape_reward, kl_coef, F64, REQ, ODS)

HONE_ABI_STEP(advantage, "advantage", "")
HONE_ABI_ATTR(advantage, kind, STR, REQ, ODS)
HONE_ABI_ATTR(advantage, group_size, I64, REQ, ODS)
HONE_ABI_ATTR(advantage, gamma, F64, REQ, ODS)
HONE_ABI_ATTR(advantage, lambda, F64, REQ, ODS)
HONE_ABI_ATTR(advantage, eps, F64, REQ, ODS)

HONE_ABI_STEP(group_accuracy, "group_accuracy", "")
HONE_ABI_ATTR(group_accuracy, group_size, I64, REQ, ODS)
HONE_ABI_ATTR(group_accuracy, threshold, F64, REQ, ODS)

HONE_ABI_STEP(indicator, "indicator", "")
HONE_ABI_ATTR(indicator, predicate, STR, REQ, ODS)
HONE_ABI_ATTR(indicator, value, F64, REQ, ODS)

HONE_ABI_STEP(group_filter, "group_filter", "")
HONE_ABI_ATTR(group_filter, group_size, I64, REQ, ODS)
HONE_ABI_ATTR(group_filter, threshold, F64, REQ, ODS)

HONE_ABI_STEP(buffer_push, "buffer.push", "buffer")

HONE_ABI_STEP(buffer_pop, "buffer.pop", "buffer")

HONE_ABI_STEP(schedule, "schedule", "")
HONE_ABI_ATTR(schedule, kind, STR, REQ, ODS)
HONE_ABI_ATTR(schedule, start, F64, REQ, ODS)
HONE_ABI_ATTR(schedule, end, F64, REQ, ODS)
HONE_ABI_ATTR(schedule, warmup, I64, REQ, ODS)
HONE_ABI_ATTR(schedule, total, I64, REQ, ODS)

HONE_ABI_STEP(sync_weights, "sync_weights", "model model?")

HONE_ABI_STEP(eval_step, "eval_step", "model dataset reward?")
HONE_ABI_ATTR(eval_step, name, STR, REQ, ODS)
HONE_ABI_ATTR(eval_step, settings, OBJ, REQ, ODS)
HONE_ABI_ATTR(eval_step, arena, I64S, OPT, DISC)

HONE_ABI_STEP(save, "save", "model")
HONE_ABI_ATTR(save, path, STR, REQ, ODS)

HONE_ABI_TRAIN(train_step, "train_step", "model*")
HONE_ABI_ATTR(train_step, readers, I64S, REQ, ODS)
HONE_ABI_ATTR(train_step, reads, STRS, REQ, ODS)
HONE_ABI_ATTR(train_step, arg_names, STRS, OPT, ODS)
HONE_ABI_ATTR(train_step, kernel, STR, OPT, ODS)
HONE_ABI_ATTR(train_step, epochs, I64, REQ, ODS)
HONE_ABI_ATTR(train_step, mini_batches, I64, REQ, ODS)
HONE_ABI_ATTR(train_step, optimizer, OBJ, REQ, ODS)
HONE_ABI_ATTR(train_step, updates, I64, REQ, ODS)
HONE_ABI_ATTR(train_step, fused_reads, I64S, OPT, ODS)
HONE_ABI_ATTR(train_step, kept_forwards, I64S, OPT, ODS)
HONE_ABI_ATTR(train_step, packed, I64S, OPT, DISC)
HONE_ABI_ATTR(train_step, packed_also, I64S, OPT, DISC)
HONE_ABI_ATTR(train_step, recompute_layers, I64S, OPT, DISC)
HONE_ABI_ATTR(train_step, keep_logits, I64S, OPT, DISC)
HONE_ABI_ATTR(train_step, phases, I64S, OPT, DISC)
HONE_ABI_ATTR(train_step, temperature, F64, REQ, LOWER)
HONE_ABI_ATTR(train_step, metric_names, STRS, REQ, LOWER)
HONE_ABI_ATTR(train_step, arena, I64S, OPT, DISC)

#undef HONE_ABI_OBJECT
#undef HONE_ABI_STEP
#undef HONE_ABI_TRAIN
#undef HONE_ABI_STAGE
#undef HONE_ABI_ATTR
