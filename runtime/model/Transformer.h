// A decoder-only transformer (GPT-2 or Llama/Qwen2 family) on the kernel
// interface of kernels/Kernels.h: forward, hand-written backward, a fused
// vocabulary-chunked LM head with log-probs and entropy, a scalar head for
// value and reward models, and the incremental (KV-cache) forward used by
// generation. Templated on the scalar type: float for training, double for
// gradient checks.
//
// Log-prob convention (token-aligned): for a right-padded batch tokens[B,T]
// with lengths len[b],
//   logprob[b,t] = log p(tokens[b,t] | tokens[b,<t])   for 1 <= t < len[b]
//   entropy[b,t] = H(p(. | tokens[b,<t]))               for 1 <= t < len[b]
// and 0 at t = 0 and t >= len[b]. A response mask over tokens therefore
// applies to logprob directly; generation records its behaviour log-probs in
// the same layout.
#pragma once

#include "kernels/Kernels.h"
#include "runtime/base/ModelConfig.h"
#include "runtime/base/Status.h"
#include "runtime/core/Tensor.h"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace hone {

/// One parameter tensor, named and shaped as in Hugging Face checkpoints
/// (GPT-2: GPT2Model names without the "transformer." prefix, Conv1D weights
/// [in, out]; Llama/Qwen2: LlamaForCausalLM names, Linear weights [out, in]).
struct ParamInfo {
  std::string name;
  Shape shape;
  int64_t offset = 0; // element offset in the flat parameter/gradient buffer
  int64_t numel = 0;
  bool decay = false; // AdamW weight decay applies (matrices, embeddings)
};

/// A right-padded batch of token ids in host memory.
struct TokenBatch {
  int64_t batch = 0;
  int64_t seqLen = 0;
  const int32_t *tokens = nullptr;  // [batch, seqLen]
  const int32_t *lengths = nullptr; // [batch], each in [1, seqLen]
};

struct ForwardOptions {
  /// Logits are divided by this before the log-softmax (1 = the model's own
  /// distribution). Generation records log-probs at its sampling temperature.
  double temperature = 1.0;
  /// Padding-free forward (docs/runtime.md, "Packed sequences"): the
  /// batch's sequences run as one stream of sum(lengths) rows, each with
  /// positions from 0 and attention within itself (Kernels.h,
  /// AttentionShape::offsets), so no work is spent on padding. The outputs
  /// keep the padded [batch, seqLen] layout (0 at padding, scalar heads
  /// included) and backward() takes gradients in it; per-token results
  /// equal the padded forward's to float rounding. hidden() is then the
  /// packed stream [sum(lengths), dModel].
  bool pack = false;
  /// With pack: consecutive sequences that begin with the same tokens
  /// (the samples of one prompt in a rollout batch: GRPO, RLOO, DAPO, ...)
  /// run that common prefix once (docs/runtime.md, "Shared prompt rows").
  /// Found at run time by comparing the rows' tokens: a group of
  /// consecutive sequences whose first S + 1 tokens are equal (S >= 4)
  /// runs rows 0..S-1 once, then each sequence's rows S.. with positions
  /// continuing after the prefix; attention reads the prefix and the
  /// sequence's own rows causally, and backward sums the prefix rows'
  /// gradients over the group. Exact (the same function; float rounding
  /// differs: fewer rows in the GEMMs); outputs and backward()'s gradients
  /// keep the padded layout; hidden() is then the shared stream. Not with
  /// LoRA dropout in a training forward (its masks are per row), nor where
  /// the layout would need more activation memory than the per-sequence
  /// packed one (Transformer::workspaceBytes with lengths stays the bound).
  bool sharePrefix = false;
  /// A training forward (a backward follows: PyTorch's train mode): LoRA
  /// dropout applies, with masks drawn from Philox keyed by
  /// (dropoutSeed, dropoutStep, dropoutRank) and the adapter's place
  /// (Transformer::loraDropped), so a run is reproducible. Other forwards
  /// (log-probs, generation, evaluation) are in eval mode: no dropout.
  bool train = false;
  uint64_t dropoutSeed = 0;
  uint32_t dropoutStep = 0, dropoutRank = 0;
};

/// Upstream gradients of one forward's outputs, device pointers, all
/// optional (null = zero). Shapes as the outputs: [batch, seqLen] / [batch].
template <typename T> struct OutputGrads {
  const T *dlogprob = nullptr;
  const T *dentropy = nullptr;
  const T *dvalue = nullptr;  // scalar head, per position
  const T *dreward = nullptr; // scalar head read at the last token, [batch]
};

/// Per-layer key/value caches for incremental decoding.
template <typename T> struct KvCache {
  int64_t batch = 0;
  int64_t cacheLen = 0;
  // Per layer, batch * nKvHeads * cacheLen * headDim elements each; the
  // layout inside a sequence row is the backend's (see attentionCached).
  std::vector<DeviceArray<T>> k, v;
};

template <typename T> struct Planner;

/// Where a model's buffers live when the job planned them: hone-plan-memory's
/// offsets in the job's one arena (runtime/job/JobArena.h). Work buffers
/// (activations, KV cache, incremental-forward workspace) and the model's
/// state (weights, gradients, optimiser moments: Transformer::placeState).
/// Without a placer, or where it has no slot for the op running now, the
/// model allocates them from its kernels, as before (the job's placer counts
/// a state buffer with no slot as a miss).
class WorkPlacer {
public:
  enum Kind {
    Activations,
    KvCache,
    Workspace,
    /// The weights (fp32, or bf16 storage with its fp32 vectors), or a LoRA
    /// model's adapters with their norm-gain gradient scratch.
    Weights,
    /// The base's gradients, or a LoRA model's adapter gradients.
    Gradients,
    /// AdamW's first and second moments.
    Moments,
    /// Generation's last hidden rows and logits (memsize::
    /// generateTransientBytes), for one hone::generate call.
    Logits,
    kKinds
  };
  /// A planned slot: its address and size (p null: none).
  struct Slot {
    void *p = nullptr;
    int64_t bytes = 0;
  };
  virtual ~WorkPlacer() = default;
  /// The slot the plan gives this model's buffer of `kind` for the op
  /// running now on this thread.
  virtual Slot slot(Kind kind) = 0;
  /// Takes the first `bytes` of `s` for this model: a lease held while the
  /// buffer lives, or null when they do not fit the slot or another buffer
  /// holds them now (the model then allocates its own; the placer counts
  /// the miss). *fresh: the bytes held another buffer since this one last
  /// had them (their contents are not this buffer's; the model writes
  /// every buffer before reading it, so it does not clear them).
  virtual std::shared_ptr<void> take(Kind kind, Slot s, int64_t bytes,
                                     bool *fresh) = 0;
  /// A state buffer (Weights, Gradients, Moments) or generation's logits
  /// of `bytes` for which slot() gave none: the job's placer counts it as
  /// unplanned.
  virtual void unplaced(Kind kind, int64_t bytes) {
    (void)kind;
    (void)bytes;
  }
};

/// LoRA adapters on a frozen base (PEFT's LoraLayer): each targeted
/// projection computes W x + (alpha / rank) B A x with A [rank, in] and
/// B [out, rank]; A starts like PEFT's default (uniform(-1/sqrt(in),
/// 1/sqrt(in))), B at zero, so a fresh adapter leaves the model unchanged.
struct LoraConfig {
  int64_t rank = 0;
  double alpha = 0;
  /// Hugging Face module names: q_proj k_proj v_proj o_proj gate_proj
  /// up_proj down_proj (Llama family).
  std::vector<std::string> targets;
  /// PEFT's lora_dropout: in training forwards each adapter's input is
  /// x * m / (1 - dropout), m ~ Bernoulli(1 - dropout) per element, so the
  /// update is s B A (m x / (1 - p)); the base projection sees x unchanged.
  double dropout = 0;
  double scale() const { return rank ? alpha / double(rank) : 0.0; }
};

/// The module names LoRA can target in `cfg`'s family, in a fixed order.
std::vector<std::string> loraTargetsOf(const ModelConfig &cfg);

/// Whether the runtime's packed forwards share common prefixes
/// (ForwardOptions::sharePrefix): on unless HONE_SHARE_PREFIX=0 (A/B runs).
bool prefixSharingEnabled();
/// Whether the runtime lets a model keep its LM head's logits where the
/// memory plan says so (Transformer::setKeepLogits): on unless
/// HONE_LM_KEEP=0 (A/B runs).
bool lmKeepEnabled();

/// The rows a shared-prefix forward of the packed batch `b` would save
/// (the groups Transformer::planShare finds; 0: nothing shared). A caller
/// that may order its rows (runtime/ops/ReadGroupRows.h) compares orders.
int64_t sharedPrefixRows(const TokenBatch &b);

template <typename T> class Transformer {
public:
  /// Validates the config (head counts, dimensions) and allocates
  /// zero-initialised parameters on `kernels`' device; the gradients come
  /// with the first zeroGrad() or backward() (a frozen model holds none).
  /// With `placer`, the weights go to its Weights slot for the op running
  /// now (Transformer::placeState); it becomes the model's placer.
  static Expected<std::unique_ptr<Transformer>>
  create(const ModelConfig &cfg, Kernels<T> *kernels,
         std::shared_ptr<WorkPlacer> placer = nullptr);
  /// A frozen model stored in bf16 (docs/runtime.md, "Frozen models in
  /// bf16"): matrices (embeddings, projections, heads) as bf16 bits at the
  /// fp32 layout's offsets, norm gains and biases in fp32, no gradients.
  /// forward(), forwardCached() run on them (Kernels::gemmBf16B...); baseView()
  /// shares the storage; addLora() puts fp32 adapters on it, and backward()
  /// then gives their gradients only (an error without them). paramData()
  /// is null; setParam rounds to bf16 (nearest even), getParam widens.
  static Expected<std::unique_ptr<Transformer>>
  createFrozenBf16(const ModelConfig &cfg, Kernels<T> *kernels,
                   std::shared_ptr<WorkPlacer> placer = nullptr);
  ~Transformer();
  bool frozenBf16() const { return hp_ != nullptr; }
  /// Host-readable storage of a frozen bf16 model's matrix / vector (CPU).
  const uint16_t *bf16Param(const ParamInfo &p) const { return hp_ + p.offset; }
  const T *vecParam(const ParamInfo &p) const { return vec(p.offset); }
  /// Bytes the weights hold now (not the gradients): what
  /// memsize::parameterBytes(cfg, sizeof(T)) or memsize::frozenBf16Bytes
  /// size. A LoRA model or base view counts the shared base again.
  int64_t weightBytesHeld() const;

  const ModelConfig &config() const { return cfg_; }
  Kernels<T> &kernels() const { return *k_; }
  /// Runs later calls on `k` (a lane's own kernels object; same backend).
  void setKernels(Kernels<T> *k) { k_ = k; }

  // --- parameters ---------------------------------------------------------
  const std::vector<ParamInfo> &params() const { return params_; }
  const ParamInfo *findParam(const std::string &hfName) const;
  int64_t numParams() const { return nParams_; }
  T *paramData() const { return wp_; }
  /// Null before the first zeroGrad()/backward() (a model never trained
  /// holds no gradients) and for a LoRA model (frozen base): see
  /// trainableGrad().
  T *gradData() const { return g_.data(); }
  T *param(const ParamInfo &p) const { return wp_ + p.offset; }
  T *grad(const ParamInfo &p) const { return g_.data() + p.offset; }
  /// Copies `src` (any floating dtype, CPU, the HF shape) into parameter
  /// `name` (a base parameter or an adapter), converting to T.
  Status setParam(const std::string &name, const Tensor &src);
  /// A CPU copy of parameter (or gradient) `name` converted to `dtype`.
  Expected<Tensor> getParam(const std::string &name, DType dtype,
                            bool gradient = false) const;
  /// GPT-2-style init: N(0, stddev) for matrices and embeddings, ones for
  /// norm gains, zeros for biases; drawn from Philox(seed, 0, 0, param#).
  void initRandom(uint64_t seed, double stddev = 0.02);
  void zeroGrad();

  // --- LoRA ---------------------------------------------------------------
  /// Adds adapters (A drawn from Philox(seed, 1, 0, #), B zero) and freezes
  /// the base: its gradient buffer is freed, backward() computes gradients of
  /// the adapters only, and the trainable*() accessors name the adapters.
  /// Adapter names are PEFT's without "base_model.model.", e.g.
  /// "model.layers.0.self_attn.q_proj.lora_A.weight" [rank, in].
  Status addLora(const LoraConfig &cfg, uint64_t seed);
  bool hasLora() const { return lora_.rank > 0; }
  /// Whether a forward with `o` draws LoRA dropout masks (training forwards
  /// of a model with adapters and dropout): such a forward shares no prompt
  /// rows (ForwardOptions::sharePrefix).
  bool loraDropoutIn(const ForwardOptions &o) const {
    return o.train && hasLora() && lora_.dropout > 0;
  }
  /// Whether LoRA dropout drops element `element` (row-major in the
  /// [rows, in] input) of the input of `layer`'s adapter on `module` (q k v
  /// o gate up down = 0..6; each module its own mask, as PEFT's own
  /// nn.Dropout per module) in the training forward keyed by (seed, step,
  /// rank): Philox's uniform for that element below p.
  static bool loraDropped(uint64_t seed, uint32_t step, uint32_t rank,
                          int64_t layer, int module, int64_t element, double p);
  const LoraConfig &lora() const { return lora_; }
  const std::vector<ParamInfo> &loraParams() const { return loraParams_; }
  T *loraData() const { return la_.data(); }
  /// A model that reads this one's base weights (no copy, no adapters, no
  /// gradients): the frozen reference of a LoRA run. Valid while this model
  /// lives; its own activations, so it may run beside this one.
  Expected<std::unique_ptr<Transformer>> baseView() const;
  /// Parameter `name` with its adapter merged in: W + (alpha/rank) B A for a
  /// targeted projection's weight, the parameter itself otherwise.
  Expected<Tensor> getMergedParam(const std::string &name, DType dtype) const;

  // What the optimiser updates: the adapters of a LoRA model, else every
  // parameter. Offsets of trainableParams() index trainableData()/Grad().
  const std::vector<ParamInfo> &trainableParams() const {
    return hasLora() ? loraParams_ : params_;
  }
  int64_t numTrainable() const { return hasLora() ? nLora_ : nParams_; }
  T *trainableData() const { return hasLora() ? la_.data() : wp_; }
  T *trainableGrad() const { return hasLora() ? lg_.data() : g_.data(); }

  // --- training / scoring -------------------------------------------------
  /// Full forward over a batch; keeps the activations for backward(). LM
  /// head: logprobs()/entropy(); scalar head: values()/rewards().
  Status forward(const TokenBatch &batch, const ForwardOptions &opts = {});
  /// Accumulates parameter gradients (+=) of the last forward().
  Status backward(const OutputGrads<T> &grads);

  /// Bytes of activations and scratch forward()+backward() use for a
  /// batch x seqLen micro-batch in the current recomputation mode (for
  /// memory planning); parameters,
  /// gradients and optimiser moments are 4 more arrays of numParams().
  /// With `lengths` (batch of them), for it packed (ForwardOptions::pack):
  /// sum(lengths) rows and nHeads * sum(lengths^2) attention probabilities
  /// (memsize::activationBytes with memsize::packedRows). A shared-prefix
  /// forward (ForwardOptions::sharePrefix) holds no more than that.
  /// keepLogits: a training forward's with setKeepLogits (LM head only).
  int64_t workspaceBytes(int64_t batch, int64_t seqLen,
                         const int32_t *lengths = nullptr,
                         bool keepLogits = false) const;

  /// Activation recomputation per layer (docs/runtime.md, "Activation
  /// recomputation"): the full forwards from now on keep every layer's
  /// input (the residual stream res[l]) but give layers 0..layers-1 one
  /// shared set of working buffers (norms, q/k/v, attention probabilities,
  /// MLP, adapter products) instead of one each; backward() re-runs such a
  /// layer's forward from res[l] just before its backward (not the last
  /// one the forward ran, whose buffers are still there). Same kernels on
  /// the same inputs: gradients bit-identical to keeping (layers = 0),
  /// for (layers - 1) x one layer's buffers less memory. Clamped to
  /// [0, nLayers]; 1 saves nothing. A forward() before the change keeps
  /// its own layout for its backward().
  void setRecomputeLayers(int64_t layers) { recompute_ = layers; }
  int64_t recomputeLayers() const { return recompute_; }

  /// The LM head's logits kept for backward (docs/runtime.md, "Kept
  /// logits"): training forwards (ForwardOptions::train) from now on also
  /// keep their logits, batch rows x vocab (memsize::activationBytes with
  /// keepLogits), and the next backward() reads them instead of
  /// recomputing them: the same GEMM's bits, so gradients are
  /// bit-identical to recomputing (off), for rows x vocab elements more
  /// activation memory. Only where the kernels keep them
  /// (Kernels::keepsLmLogits: the CPU backend) and for an LM head; other
  /// forwards (reads, evaluation, generation) keep nothing. hone-plan-memory
  /// decides it (train_step `keep_logits`).
  void setKeepLogits(bool on) { keepLogits_ = on; }
  bool keepLogits() const { return keepLogits_; }
  /// Backward LM heads that read kept logits so far (tests, A/B runs).
  uint64_t keptLogitsUsed() const { return keptUsed_; }
  /// Layer forwards backward() has re-run so far (tests, the report).
  uint64_t recomputedLayers() const { return recomputed_; }

  /// Model work done so far (the job's report: measured forwards,
  /// backwards, tokens and FLOPs per stage iteration and model).
  struct WorkDone {
    /// forward() and backward() calls.
    uint64_t forwards = 0, backwards = 0;
    /// Rows forward() ran (sum(lengths) packed, batch x seqLen padded) and
    /// the attention's sum over sequences of rows^2; the same of the
    /// forwards backward() differentiated.
    double rows = 0, squares = 0, backwardRows = 0, backwardSquares = 0;
    /// Layer forwards backward() re-ran, as rows and squares (each one
    /// 1/layers of its forward's).
    double recomputedRows = 0, recomputedSquares = 0;
    /// forwardCached(): new rows (prompt prefill and decoded tokens) and
    /// the cache positions they attended (a token at position p: p + 1).
    double cachedRows = 0, cachedAttended = 0;
    /// Rows forward() did not run because sequences shared a prefix
    /// (ForwardOptions::sharePrefix): per-sequence packed rows minus rows.
    double sharedRows = 0;
  };
  const WorkDone &workDone() const { return work_; }
  /// FLOPs of `w` by the compiler's estimate (dialect/HoneForwards.h,
  /// forwardFlops): 2 per parameter and row, 4 x layers x heads x headDim
  /// per attended pair (a full forward's rows attend to the whole
  /// sequence, as there), a backward twice its forward.
  double flopsOf(const WorkDone &w) const;

  int64_t batch() const { return B_; }
  int64_t seqLen() const { return T_; }
  /// Rows the last forward ran: sum(lengths) when packed, batch*seqLen not.
  int64_t rowsRun() const { return N_; }
  /// forward() calls so far: the kept activations are those of call
  /// number forwardCount() (a train step that reuses a hone.value's forward
  /// checks that none ran since: runtime/ops/TrainStep.cpp).
  uint64_t forwardCount() const { return forwards_; }
  /// Device pointers, valid until the next forward: [batch, seqLen].
  const T *logprobs() const { return logprob_; }
  const T *entropy() const { return entropy_; }
  const T *values() const { return values_; }
  /// [batch]: values at position len[b]-1.
  const T *rewards() const { return rewards_; }
  /// Final-norm hidden states [batch*seqLen, dModel] of the last forward.
  const T *hidden() const { return lnf_; }
  /// Host copy of `n` elements of a device array.
  std::vector<T> toHost(const T *p, int64_t n) const;

  // --- generation ---------------------------------------------------------
  Expected<KvCache<T>> makeKvCache(int64_t batch, int64_t cacheLen);
  /// A batch x cacheLen KV cache the model keeps between calls (contents
  /// not cleared): generation calls it every time, and faulting in a fresh
  /// cache (1 GB for 128 rows of the benchmark model) cost ~0.4 s per call.
  /// It grows to the largest request; releaseKvCache() frees it.
  Expected<KvCache<T> *> reusableKvCache(int64_t batch, int64_t cacheLen);
  void releaseKvCache() { kvCache_.reset(); }
  /// Frees the KV cache and the incremental-forward workspace (a
  /// generation whose stage frees them after the call:
  /// hone-plan-memory's release_decode).
  void releaseDecodeState();
  /// Bytes held now by the kept activations, the incremental-forward
  /// workspace and the reusable KV cache (the job's memory check compares
  /// them with the plan: runtime/model/MemorySizes.h).
  int64_t activationBytesHeld() const;
  int64_t decodeWorkspaceBytesHeld() const;
  int64_t kvCacheBytesHeld() const;
  /// Bytes of the base's gradients (0 before the first backward, after
  /// releaseGradients() and for a LoRA model) and of the adapters with
  /// their gradients and scratch (memsize::loraBytes; 0 without adapters).
  int64_t gradientBytesHeld() const;
  int64_t loraBytesHeld() const;
  /// Frees all three (a stage that no longer runs the model).
  void releaseWorkspaces();
  /// Places the activations, KV cache and incremental-forward workspace
  /// where `placer` says (null: the kernels' allocator). Buffers held now
  /// move at their next use.
  void setPlacer(std::shared_ptr<WorkPlacer> placer) {
    placer_ = std::move(placer);
  }
  std::shared_ptr<WorkPlacer> placer() const { return placer_; }
  /// A buffer of `kind` (Weights, Gradients, Moments, Logits) of `bytes`:
  /// the bytes of the placer's slot for the op running now, leased (*lease
  /// holds them) and, with `zero`, zeroed, as the kernels' allocations are.
  /// Null without a placer, or when it has no slot or the slot cannot take
  /// them (the placer counts that); the caller then allocates from the
  /// kernels.
  char *placeState(WorkPlacer::Kind kind, int64_t bytes,
                   std::shared_ptr<void> *lease, bool zero = true) const;
  /// Whether the weights / the gradients lie in memory a placer lent.
  bool weightsPlaced() const;
  bool gradientsPlaced() const;
  /// Whether the kept activations, the workspace or the KV cache lie in
  /// memory a placer lent (tests).
  bool activationsPlaced() const;
  bool kvCachePlaced() const;
  /// Frees the kept activations alone (a frozen read whose model runs no
  /// backward in the stage: hone-plan-memory's release_activations).
  void releaseActivations();
  /// Frees the base's gradients (a stage's end: the next backward
  /// allocates them again, zeroed; a LoRA model keeps its adapters').
  void releaseGradients() { g_ = DeviceArray<T>(); }
  /// Incremental forward: for each of `batch` sequences, newLen new tokens
  /// (host, [batch, newLen]) at positions start[b] .. start[b]+newLen-1
  /// (host). Appends their K/V to the cache and returns the final-norm
  /// hidden states [batch*newLen, dModel] (device, valid until the next call).
  /// sharedLen (host, [batch], optional): the first sharedLen[b] cache
  /// positions of sequence b hold the same K/V as sequence b-1's (samples of
  /// one prompt); a hint that lets the backend read them once
  /// (Kernels::attentionCachedShared), never a change in results.
  /// lens (host, [batch], optional; not with sharedLen): sequence b brings
  /// lens[b] new tokens (1 <= lens[b] <= newLen), packed: tokens and hidden
  /// states [sum lens, ...], sequence b's rows after sequence b-1's (a
  /// prefill of prompts of different lengths computes no padding rows).
  /// lastRowsOnly: the hidden states are each sequence's last new row's
  /// only, [batch, dModel] (a prefill whose next token is all that is
  /// read): the last layer's output projection, MLP and the final norm
  /// run on those rows alone (every row's K/V still enter the cache). Its
  /// rows' values are the full forward's up to the dense layers' rounding
  /// at fewer rows (another kernel path may run: not bit-identical).
  Expected<const T *> forwardCached(KvCache<T> &cache, const int32_t *tokens,
                                    const int32_t *start, int64_t batch,
                                    int64_t newLen,
                                    const int32_t *sharedLen = nullptr,
                                    const int32_t *lens = nullptr,
                                    bool lastRowsOnly = false);
  /// Decode's dense layers with their weights packed once for a generate
  /// call (Kernels::packLinearRows): decodePackElems is the elements the
  /// packed copies of every layer's matrices take for decode steps of up
  /// to `rows` rows (0: the kernels read none packed, or bf16 storage);
  /// packDecodeWeights writes them to `dst` (held by the caller) and makes
  /// forwardCached's dense layers read them, with the same results, until
  /// dropDecodePack(). The weights must not change meanwhile.
  int64_t decodePackElems(int64_t rows) const;
  void packDecodeWeights(int64_t rows, T *dst);
  void dropDecodePack() { packAt_.clear(); }
  /// Room for `elems` elements of decode pack that the model keeps between
  /// generate calls, as it keeps the KV cache: a model without a placer
  /// (generation outside a job's memory plan: hone_bench_generate, a
  /// library caller) had the 96 MiB pack of a GPT-2 d_model 512 x 8 mapped,
  /// populated and unmapped on every call, 0.1-0.5 s of page clearing
  /// against ~2 CPU-s of generation. Null with a placer (the plan places
  /// the pack in the op's Logits slot, and a pack it left unplaced stays
  /// per call) or with HONE_DECODE_PACK_KEEP=0 (A/B runs). It grows to the
  /// largest request; freed by releaseDecodeState() and
  /// releaseWorkspaces(). Only where the pack lies changes: the same values
  /// are packed on every call.
  T *keptDecodePack(int64_t elems);
  /// Bytes of that kept buffer (0 with a placer: what a job's plan counts
  /// as the generate op's transient, memsize::generateTransientBytes).
  int64_t decodePackBytesHeld() const;
  /// Dense-layer calls that were given a packed W so far (tests).
  uint64_t packedLinearCalls() const { return packedCalls_; }
  /// Logits [rows, vocab] = hidden W_lm^T / temperature (device).
  Status logits(const T *hidden, int64_t rows, double temperature, T *out);

private:
  Transformer(const ModelConfig &cfg, Kernels<T> *k);
  struct Layer;
  struct Acts;
  struct LoraGroup;
  enum { kQkv, kO, kGateUp, kDown, kGroups };
  /// Locates a base parameter or adapter by name; *data = its buffer.
  const ParamInfo *locate(const std::string &name, T **data,
                          T **gradBuf) const;
  /// out = m x / (1 - p) for the mask of (layer, module) under the current
  /// training forward's key (n elements; out may be x).
  void dropoutMask(const T *x, int64_t n, size_t layer, int module, T *out);
  /// drop: LoRA dropout on the adapters' input (a training forward).
  void loraFwd(const LoraGroup &G, const T *x, int64_t rows, T *y, int64_t ldy,
               T *u, size_t layer = 0, bool drop = false);
  void loraBwd(size_t layer, const LoraGroup &G, const T *x, const T *dy,
               int64_t rows, int64_t ldy, const T *u, T *dx);
  const LoraGroup *loraGroup(size_t layer, int g) const;
  Status validateBatch(const TokenBatch &b) const;
  void buildParams();
  /// N rows of the stream, P attention probabilities (padded: B * seqLen
  /// and B * nHeads * seqLen^2; packed: sum len and nHeads * sum len^2).
  /// NX: with a shared-prefix forward, the rows of the per-sequence layout
  /// attention runs on at a time (a chunk of sequences; 0: none).
  /// keep: also the LM head's logits, N x vocab (setKeepLogits).
  void planActs(Acts *a, Planner<T> &pl, int64_t B, int64_t seqLen, int64_t N,
                int64_t P, int64_t NX = 0, bool keep = false) const;
  Status ensureActs(int64_t B, int64_t seqLen, int64_t N, int64_t P,
                    int64_t NX = 0, bool keep = false);
  /// Finds the groups of a packed batch that share a prefix (sharePrefix);
  /// fills shareS_/sharePre_/shareOwn_/shareLead_ and returns the stream's
  /// rows (0: nothing to share).
  int64_t planShare(const TokenBatch &b);
  /// Rows of width w between the shared stream (src/dst `s`) and the
  /// per-sequence layout attention runs on (offsets_): expand copies each
  /// sequence's prefix and own rows (zeroRepeats: a group's later members
  /// get zeros for the prefix); compress copies them back, a prefix from
  /// the group's first member or (sum) summed over the members in order.
  /// Over sequences [b0, b1), x holding the first's row at 0.
  void expandRows(int64_t b0, int64_t b1, const T *s, int64_t w, T *x,
                  bool zeroRepeats);
  void compressRows(int64_t b0, int64_t b1, const T *x, int64_t w, T *s,
                    bool sum);
  /// Cuts the shared layout's sequences into chunks of whole groups whose
  /// per-sequence rows fit `rows` (at least the largest group's); returns
  /// the most rows a chunk that needs the per-sequence copy has.
  int64_t planChunks(int64_t rows);
  /// Sequence b's runs of rows in the stream: (first t, row, count).
  template <typename F> void forEachRun(int64_t b, F &&f) const;
  /// Layer l's attention forward / backward (the shared layout's through
  /// expandRows/compressRows).
  void attentionFwdAt(size_t l, const AttentionShape &as);
  void attentionBwdAt(size_t l, const AttentionShape &as);
  /// Layer l's forward over the last forward()'s N_ rows (redo: a
  /// recomputation in backward(), res[l+1] not written).
  void layerFwd(size_t l, const AttentionShape &as, bool redo);
  /// The placer's slot of `kind` (none without a placer).
  WorkPlacer::Slot slotOf(WorkPlacer::Kind kind) const {
    return placer_ ? placer_->slot(kind) : WorkPlacer::Slot{};
  }
  /// A block of n elements and ni int32s for a buffer of `kind`: at `slot`
  /// when the placer lends it (not cleared), else from the kernels.
  /// False when out of memory.
  bool allocBlock(WorkPlacer::Kind kind, const WorkPlacer::Slot &slot,
                  int64_t n, int64_t ni, DeviceArray<T> &block,
                  DeviceArray<T, int32_t> &ints);
  /// y = (residual + b) + x W and, when act is not null, act = gelu(y)
  /// (Kernels::denseFwd; residual nullable).
  void linearFwd(const T *x, int64_t rows, int64_t in, int64_t out,
                 int64_t wOff, int64_t bOff, bool conv1d, T *y,
                 const T *residual = nullptr, T *act = nullptr);
  /// dW += x^T dy, db += sum dy, dx = dy W^T; with geluPre, dx is the
  /// gradient of GELU's input whose output was x: dx = (dy W^T) gelu'(pre)
  /// (Kernels::gemmGeluBwd).
  void linearBwd(const T *x, const T *dy, int64_t rows, int64_t in, int64_t out,
                 int64_t wOff, int64_t bOff, bool conv1d, T *dx,
                 const T *geluPre = nullptr);
  /// Qwen3: qkv = pre with per-head RMSNorm on the q and k heads.
  void qkNormFwd(const Layer &L, const T *pre, int64_t rows, T *qkv, T *rstd);
  const T *lmWeight() const;
  T *lmWeightGrad() const;
  /// A norm gain or bias at fp32-layout offset `off` (fp32 in both
  /// storages).
  const T *vec(int64_t off) const {
    return hp_ ? v_->data() + vecAt_.at(off) : wp_ + off;
  }
  /// C = op(A) W(off) + beta C with the weight at `off` in either storage.
  void gemmW(bool tb, int64_t m, int64_t n, int64_t k, const T *A, int64_t lda,
             int64_t off, int64_t ldb, T beta, T *C, int64_t ldc);
  /// x = the token (+ position) embeddings of N rows.
  void embed(const int32_t *tokens, const int32_t *positions, int64_t N, T *x);
  void linearRowsW(const T *x, int64_t rows, int64_t in, int64_t out,
                   int64_t off, bool transW, const T *b, const T *residual,
                   bool gelu, T *y);

  ModelConfig cfg_;
  RopeSpec rope_;
  Kernels<T> *k_;
  std::vector<ParamInfo> params_;
  std::vector<Layer> layers_;
  int64_t nParams_ = 0;
  int64_t wte_ = -1, wpe_ = -1, lnfW_ = -1, lnfB_ = -1, lm_ = -1, score_ = -1;
  // Base weights, shared with baseView()s; wp_ = w_->data().
  std::shared_ptr<DeviceArray<T>> w_;
  T *wp_ = nullptr;
  DeviceArray<T> g_;
  // Frozen bf16 storage (createFrozenBf16): matrices as bf16 bits at the
  // fp32 offsets (hp_ = h_->data()), norm gains and biases in v_ at
  // vecAt_[fp32 offset]; wp_ is then null.
  std::shared_ptr<DeviceArray<T, uint16_t>> h_;
  const uint16_t *hp_ = nullptr;
  std::shared_ptr<DeviceArray<T>> v_;
  std::unordered_map<int64_t, int64_t> vecAt_;
  // LoRA: adapter weights/gradients, groups per layer (kGroups each, index
  // into loraGroups_ or -1), scratch for the frozen norm gains' gradients.
  LoraConfig lora_;
  std::vector<ParamInfo> loraParams_;
  std::vector<LoraGroup> loraGroups_;
  std::vector<int64_t> loraIndex_;
  int64_t nLora_ = 0, loraMaxCols_ = 0, loraMaxIn_ = 0;
  // The training forward's dropout key (ForwardOptions); dropNow_ while the
  // kept activations are from a training forward with LoRA dropout.
  bool dropNow_ = false;
  uint64_t dropSeed_ = 0;
  uint32_t dropStep_ = 0, dropRank_ = 0;
  DeviceArray<T> la_, lg_, gScratch_;

  std::unique_ptr<Acts> acts_;
  int64_t B_ = 0, T_ = 0, N_ = 0;
  // setRecomputeLayers; the layer whose buffers the shared working set
  // holds now (-1: none); layer forwards backward() re-ran.
  int64_t recompute_ = 0, actsLayer_ = -1;
  uint64_t recomputed_ = 0;
  // setKeepLogits; whether Acts::logits holds the last forward's logits
  // (set by a keeping forward, cleared by the backward that reads them);
  // backwards that read them.
  bool keepLogits_ = false, logitsKept_ = false;
  uint64_t keptUsed_ = 0;
  /// Packed forward: sequence b's first row (host), [B_ + 1]; empty when
  /// the last forward was padded.
  std::vector<int32_t> offsets_;
  /// A shared-prefix forward (empty otherwise): per sequence, the shared
  /// rows S of its group, the group's prefix start row, its own first row
  /// in the stream, and whether it leads its group.
  std::vector<int32_t> shareS_, sharePre_, shareOwn_;
  std::vector<char> shareLead_;
  /// Its attention chunks: sequences [first, end), where the chunk's
  /// offsets start in Acts::xOffsets, and whether it runs in place on the
  /// stream (no group in it shares: the stream is its per-sequence layout).
  struct Chunk {
    int64_t b0, b1, off;
    bool direct;
    /// Where sequence b0's attention probabilities begin in a layer's
    /// buffer (per-sequence layout: nHeads x len^2 each before it).
    int64_t probs = 0;
  };
  std::vector<Chunk> chunks_;
  std::vector<int32_t> xOffsets_;
  uint64_t forwards_ = 0;
  WorkDone work_;
  // Rows and squares of the last forward(), for backward()'s counts.
  double lastRows_ = 0, lastSquares_ = 0;
  /// Allocates zeroed gradients where none are (not for a LoRA model);
  /// false when out of memory.
  bool ensureGradients();
  std::vector<int32_t> lengths_;
  double invTemp_ = 1.0;
  T *logprob_ = nullptr, *entropy_ = nullptr, *values_ = nullptr,
    *rewards_ = nullptr, *lnf_ = nullptr;

  // packDecodeWeights: (weight offset, its packed copy), in layer order.
  std::vector<std::pair<int64_t, const T *>> packAt_;
  uint64_t packedCalls_ = 0;
  struct PackedMatrix {
    int64_t off, in, out;
    bool transW;
  };
  std::vector<PackedMatrix> decodeMatrices() const;
  std::unique_ptr<Acts> inf_;           // incremental-forward workspace
  std::unique_ptr<KvCache<T>> kvCache_; // reusableKvCache()
  DeviceArray<T> packKeep_;             // keptDecodePack()
  std::shared_ptr<WorkPlacer> placer_;
};

extern template class Transformer<float>;
extern template class Transformer<double>;

/// Checks a config for the model (positive sizes, nHeads % nKvHeads == 0,
/// dModel % nHeads == 0 unless headDimension is set, even head dim for RoPE,
/// GPT-2: nKvHeads == nHeads and no head_dim/qkNorm/RoPE scaling).
Status validateModelConfig(const ModelConfig &cfg);

} // namespace hone
