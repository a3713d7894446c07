/* settings.inl — the settings objects at the runtime boundary (docs/abi.md).
 *
 * An attribute of KIND OBJ in step_ops.inl, and the job's configuration
 * (hone_rt_begin's config JSON), carry typed settings attributes of the
 * dialect (dialect/HoneSettings.td, dialect/HoneAttrs.td) as JSON objects,
 * written by passes/AttrToJson.cpp. Each such object has one row here,
 * followed by one line per member:
 *
 *   HONE_SETTINGS(ID, "#hone.attr")              a settings object
 *   HONE_SETTING(ID, NAME, KIND, NEED)           a member of row ID
 *   HONE_SETTING_OBJ(ID, NAME, NEED, OF)         a member of row ID that is
 *                         an object: settings row OF, or `free` (any object)
 *
 * KIND and NEED as in step_ops.inl, and JSON (any value, not looked into);
 * KIND is never OBJ here: objects are HONE_SETTING_OBJ lines. NAME is a C identifier. The runtime decodes each
 * object into a typed struct (runtime/ops/Attrs.h) and refuses a missing,
 * mistyped or unlisted member; honec checks every object it writes against
 * the same rows (passes/lower/Calls.cpp), so writer and reader cannot
 * drift. Plain C preprocessor: no MLIR here.
 */
#ifndef HONE_SETTINGS
#define HONE_SETTINGS(id, attr)
#endif
#ifndef HONE_SETTING
#define HONE_SETTING(id, name, kind, need)
#endif
#ifndef HONE_SETTING_OBJ
#define HONE_SETTING_OBJ(id, name, need, of)
#endif

HONE_SETTINGS(arch, "#hone.arch")
HONE_SETTING(arch, family, STR, REQ)
HONE_SETTING(arch, vocab, I64, REQ)
HONE_SETTING(arch, d_model, I64, REQ)
HONE_SETTING(arch, layers, I64, REQ)
HONE_SETTING(arch, heads, I64, REQ)
HONE_SETTING(arch, kv_heads, I64, REQ)
HONE_SETTING(arch, ffn, I64, REQ)
HONE_SETTING(arch, max_seq, I64, REQ)
HONE_SETTING(arch, norm_eps, F64, REQ)
HONE_SETTING(arch, rope_theta, F64, REQ)
HONE_SETTING(arch, tied, BOOL, REQ)
HONE_SETTING(arch, qkv_bias, BOOL, REQ)
HONE_SETTING(arch, head_dim, I64, REQ)
HONE_SETTING(arch, qk_norm, BOOL, REQ)
HONE_SETTING(arch, rope_scaling, STR, REQ)
HONE_SETTING(arch, rope_factor, F64, REQ)
HONE_SETTING(arch, rope_low_freq, F64, REQ)
HONE_SETTING(arch, rope_high_freq, F64, REQ)
HONE_SETTING(arch, rope_original_max, I64, REQ)

HONE_SETTINGS(lora, "#hone.lora")
HONE_SETTING(lora, rank, I64, REQ)
HONE_SETTING(lora, alpha, F64, REQ)
HONE_SETTING(lora, dropout, F64, REQ)
HONE_SETTING(lora, target_modules, STRS, REQ)
HONE_SETTING(lora, merge_on_save, BOOL, REQ)

HONE_SETTINGS(optimizer, "#hone.optimizer")
HONE_SETTING(optimizer, kind, STR, REQ)
HONE_SETTING(optimizer, lr, F64, REQ)
HONE_SETTING(optimizer, beta1, F64, REQ)
HONE_SETTING(optimizer, beta2, F64, REQ)
HONE_SETTING(optimizer, eps, F64, REQ)
HONE_SETTING(optimizer, weight_decay, F64, REQ)
HONE_SETTING(optimizer, schedule, STR, REQ)
HONE_SETTING(optimizer, warmup_steps, I64, REQ)
HONE_SETTING(optimizer, min_lr_ratio, F64, REQ)
HONE_SETTING(optimizer, max_grad_norm, F64, REQ)

HONE_SETTINGS(generation, "#hone.generation")
HONE_SETTING(generation, max_new_tokens, I64, REQ)
HONE_SETTING(generation, temperature, F64, REQ)
HONE_SETTING(generation, top_k, I64, REQ)
HONE_SETTING(generation, top_p, F64, REQ)
HONE_SETTING(generation, stop, STRS, REQ)

HONE_SETTINGS(eval_settings, "#hone.eval_settings")
HONE_SETTING(eval_settings, every_steps, I64, REQ)
HONE_SETTING(eval_settings, max_records, I64, REQ)
HONE_SETTING_OBJ(eval_settings, generation, REQ, generation)

/* A verifier's settings (reward.verifier "settings"), one row per kind. */
HONE_SETTINGS(exact_match, "#hone.exact_match")
HONE_SETTING(exact_match, extract, STR, REQ)
HONE_SETTING(exact_match, strip, BOOL, REQ)
HONE_SETTING(exact_match, case_sensitive, BOOL, REQ)
HONE_SETTING(exact_match, correct, F64, REQ)
HONE_SETTING(exact_match, incorrect, F64, REQ)

HONE_SETTINGS(numeric_match, "#hone.numeric_match")
HONE_SETTING(numeric_match, extract, STR, REQ)
HONE_SETTING(numeric_match, rel_tolerance, F64, REQ)
HONE_SETTING(numeric_match, correct, F64, REQ)
HONE_SETTING(numeric_match, incorrect, F64, REQ)

HONE_SETTINGS(pattern_reward, "#hone.pattern_reward")
HONE_SETTING(pattern_reward, match, F64, REQ)
HONE_SETTING(pattern_reward, no_match, F64, REQ)

HONE_SETTINGS(length_shaping, "#hone.length_shaping")
HONE_SETTING(length_shaping, penalty, F64, REQ)

HONE_SETTINGS(columns, "#hone.columns")
HONE_SETTING(columns, text, STR, REQ)
HONE_SETTING(columns, messages, STR, REQ)
HONE_SETTING(columns, role, STR, REQ)
HONE_SETTING(columns, content, STR, REQ)
HONE_SETTING(columns, prompt, STR, REQ)
HONE_SETTING(columns, completion, STR, REQ)
HONE_SETTING(columns, chosen, STR, REQ)
HONE_SETTING(columns, rejected, STR, REQ)
HONE_SETTING(columns, label, STR, REQ)
HONE_SETTING(columns, answer, STR, REQ)
HONE_SETTING_OBJ(columns, role_names, REQ, free) /* role -> role */

HONE_SETTINGS(dataset_settings, "#hone.dataset_settings")
HONE_SETTING_OBJ(dataset_settings, columns, REQ, columns)
HONE_SETTING(dataset_settings, eval_fraction, F64, REQ)
HONE_SETTING(dataset_settings, shuffle, BOOL, REQ)
HONE_SETTING(dataset_settings, shuffle_seed, I64, REQ)
HONE_SETTING(dataset_settings, max_records, I64, REQ)

HONE_SETTINGS(char_vocab, "#hone.char_vocab")
HONE_SETTING(char_vocab, alphabet, STR, REQ)
HONE_SETTING(char_vocab, special, STRS, REQ)

/* Exactly one of chars and file. */
HONE_SETTINGS(tokenizer, "#hone.tokenizer")
HONE_SETTING_OBJ(tokenizer, chars, OPT, char_vocab)
HONE_SETTING(tokenizer, file, STR, OPT)
HONE_SETTING(tokenizer, chat_template, STR, REQ)
HONE_SETTING(tokenizer, chat_template_kwargs, STR, REQ)

HONE_SETTINGS(hardware, "#hone.hardware")
HONE_SETTING(hardware, device, STR, REQ)
HONE_SETTING(hardware, memory_budget, I64, REQ)
HONE_SETTING(hardware, ranks, I64, REQ)
HONE_SETTING(hardware, rollout_staleness, I64, REQ)
HONE_SETTING(hardware, precision, STR, REQ)
HONE_SETTING(hardware, frozen_precision, STR, REQ)
HONE_SETTING(hardware, threads, I64, REQ)
HONE_SETTING(hardware, collective_timeout_s, F64, REQ)

HONE_SETTINGS(checkpointing, "#hone.checkpointing")
HONE_SETTING(checkpointing, every_steps, I64, REQ)
HONE_SETTING(checkpointing, keep_last, I64, REQ)
HONE_SETTING(checkpointing, on_nan, STR, REQ)
HONE_SETTING(checkpointing, max_skipped_fraction, F64, REQ)
HONE_SETTING(checkpointing, max_skipped_in_a_row, I64, REQ)
HONE_SETTING(checkpointing, dir, STR, REQ)

/* hone_rt_begin's config: #hone.run and what the lowering adds. */
HONE_SETTINGS(run, "#hone.run")
HONE_SETTING(run, seed, I64, REQ)
HONE_SETTING(run, output_dir, STR, REQ)
HONE_SETTING_OBJ(run, tokenizer, REQ, tokenizer)
HONE_SETTING_OBJ(run, hardware, REQ, hardware)
HONE_SETTING_OBJ(run, checkpointing, REQ, checkpointing)
HONE_SETTING(run, model_work, JSON, REQ) /* the work report (an array) */
HONE_SETTING_OBJ(run, memory_plan, OPT, free) /* hone-plan-memory */
HONE_SETTING_OBJ(run, lane_plan, OPT, free) /* hone-assign-lanes */
HONE_SETTING(run, lanes_pay, BOOL, OPT) /* --lanes auto: a score waits on a process */

#undef HONE_SETTINGS
#undef HONE_SETTING
#undef HONE_SETTING_OBJ
