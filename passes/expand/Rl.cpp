//===- Rl.cpp - hone-expand-stages: online RL and its hybrids -------------===//
//
// Online RL stages (PPO, GRPO and the critic-free family, with their policy
// losses; docs/methods.md) and the hybrids that mix demonstrations into them
// (LUFFY, SRFT, CHORD, HPT, UFT, ReLIFT): a hybrid's reads and losses sit
// inside the RL step loop beside the policy's, so they are expanded here
// rather than in a file of their own
// (passes/expand/Expander.h has what the method families share).
//
//===----------------------------------------------------------------------===//

#include "passes/expand/Expander.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::hone;

namespace mlir::hone::expand {

namespace {

/// PPO's clipped surrogate, as a per-token loss:
/// −min(ρ·A, clip(ρ, 1−ε_lo, 1+ε_hi)·A), ρ = exp(l − l_old).
Value clippedPgLoss(LossBuilder &lb, Value l, Value lOld, Value adv,
                    double lo, double hi) {
  Value rho = lb.ratio(l, lOld);
  Value unclipped = lb.mul(rho, adv);
  Value clipped = lb.mul(lb.clamp(rho, 1.0 - lo, 1.0 + hi), adv);
  return lb.neg(lb.min(unclipped, clipped));
}

/// The fraction of response tokens whose objective the clip holds constant
/// (TRL's `clip_ratio`): ρ < 1 − ε with A < 0, or ρ > 1 + ε_high with A > 0.
Value clipRatio(LossBuilder &lb, Value l, Value lOld, Value adv, Value mask,
                double lo, double hi) {
  // One statement per op: the IR's order must not depend on the C++
  // compiler's order of evaluating arguments.
  Value rho = lb.ratio(l, lOld);
  Value zero = lb.cstLike(0.0, l);
  Value below = lb.cmp(CmpPredicate::lt, rho, lb.cstLike(1.0 - lo, l));
  Value negative = lb.cmp(CmpPredicate::lt, adv, zero);
  Value low = lb.mul(below, negative);
  Value above = lb.cmp(CmpPredicate::gt, rho, lb.cstLike(1.0 + hi, l));
  Value positive = lb.cmp(CmpPredicate::gt, adv, zero);
  Value high = lb.mul(above, positive);
  return lb.reduce(ReduceMode::token_mean, lb.add(low, high), mask);
}

/// An RL stage's settings as the objectives use them (from the typed
/// #hone.rl_settings; the frontend resolved every method-dependent default).
struct RlObjective {
  double eps, epsHigh;      // ratio clipped to [1 − eps, 1 + epsHigh]
  double klInLoss = 0.0;    // β of a KL term in the loss (0: none)
  double klInReward = 0.0;  // β of a KL penalty in the reward
  KlEstimator klEstimator;
  ReduceMode mode = ReduceMode::seq_mean_token_mean;
  std::optional<double> norm; // constant aggregation's normaliser
  double entropyCoef;
  bool scaleRewards;
  bool dynamicSampling;
  // The policy loss (absent attribute: the clip, no corrections).
  PolicyLossKind lossKind = PolicyLossKind::clip;
  double dualClip = 0.0, tisCap = 0.0, tauPos = 1.0, tauNeg = 1.05;

  RlObjective(RlSettingsAttr rs, double klCoef, int64_t B, int64_t maxNew,
              PolicyLossAttr pl = {})
      : eps(d(rs.getEpsilon())), epsHigh(d(rs.getEpsilonHigh())),
        klEstimator(rs.getKlEstimator()),
        entropyCoef(d(rs.getEntropyCoef())),
        scaleRewards(rs.getScaleRewards()),
        dynamicSampling(rs.getDynamicSampling()) {
    if (pl) {
      lossKind = pl.getKind();
      dualClip = d(pl.getDualClip());
      tisCap = d(pl.getTisCap());
      tauPos = d(pl.getTauPos());
      tauNeg = d(pl.getTauNeg());
    }
    (rs.getKlPlacement() == KlPlacement::in_loss ? klInLoss : klInReward) =
        klCoef;
    switch (rs.getAggregation()) {
    case Aggregation::token_mean:
      mode = ReduceMode::token_mean;
      break;
    case Aggregation::constant:
      // Dr. GRPO: the sum over tokens / (batch · max_new_tokens).
      mode = ReduceMode::constant;
      norm = double(B * maxNew);
      break;
    case Aggregation::sequence_mean:
      mode = ReduceMode::seq_mean_token_mean;
      break;
    }
  }
};

/// Dual clip and truncated importance sampling on a per-token policy loss
/// (docs/methods.md). Reads `adv` as given ([B,T]) and, with TIS,
/// `l_old` (the trainer's log-probs) and `l_rollout` (the generator's).
Value correctPolicyLoss(LossBuilder &lb, const RlObjective &rs,
                        llvm::StringMap<Value> &a, Value adv, Value perToken,
                        Value m, TrainStep::Metrics &metrics) {
  if (rs.dualClip > 0.0) {
    // Dual-clip PPO: where A < 0, min(loss, −c·A).
    Value zero = lb.cstLike(0.0, adv);
    Value negative = lb.cmp(CmpPredicate::lt, adv, zero);
    Value scaled = lb.scale(adv, rs.dualClip);
    Value bound = lb.neg(scaled);
    Value capped = lb.min(perToken, bound);
    perToken = lb.select(negative, capped, perToken);
  }
  if (rs.tisCap > 0.0 && a.count("l_rollout")) {
    // TIS: × sg(min(exp(l_old − l_rollout), C)).
    Value w = lb.ratio(a["l_old"], a["l_rollout"]);
    Value capped = lb.clamp(w, std::nullopt, rs.tisCap);
    Value weight = lb.sg(capped);
    perToken = lb.mul(perToken, weight);
    metrics.push_back(
        {"tis_weight", lb.reduce(ReduceMode::token_mean, weight, m)});
  }
  return perToken;
}

/// −min(s·A, clip(s, 1 − ε, 1 + ε_high)·A) for any ratio s.
Value clippedSurrogate(LossBuilder &lb, Value s, Value adv, double lo,
                       double hi) {
  Value unclipped = lb.mul(s, adv);
  Value bounded = lb.clamp(s, 1.0 - lo, 1.0 + hi);
  Value clipped = lb.mul(bounded, adv);
  Value best = lb.min(unclipped, clipped);
  return lb.neg(best);
}

/// The per-token policy loss of a critic-free group algorithm for each
/// PolicyLossKind (docs/methods.md has the formulas and their sources).
/// `advSeq` is the per-sequence advantage [B].
Value policyLoss(LossBuilder &lb, const RlObjective &rs,
                 llvm::StringMap<Value> &a, Value adv,
                 TrainStep::Metrics &metrics) {
  Value l = a["l"], lOld = a["l_old"], m = a["mask"], advSeq = a["adv"];
  switch (rs.lossKind) {
  case PolicyLossKind::clip:
    break;
  case PolicyLossKind::gspo:
  case PolicyLossKind::gspo_token: {
    // s_i = exp((1/|y_i|) Σ_t m (l − l_old)), clipped per sequence.
    Value diff = lb.sub(l, lOld);
    Value logS = lb.seqMean(diff, m);
    Value s = lb.exp(logS);
    Value logSTok = lb.bcastLike(logS, l);
    Value zeros = lb.cstLike(0.0, l);
    metrics.push_back({"clip_ratio", clipRatio(lb, logSTok, zeros, adv, m,
                                               rs.eps, rs.epsHigh)});
    if (rs.lossKind == PolicyLossKind::gspo) {
      Value perSeq = clippedSurrogate(lb, s, advSeq, rs.eps, rs.epsHigh);
      return lb.bcastLike(perSeq, l);
    }
    // GSPO-token: s_it = sg(s_i)·exp(l − sg(l)), the value of s_i with
    // each token's own gradient.
    Value frozen = lb.sg(s);
    Value frozenTok = lb.bcastLike(frozen, l);
    Value lFrozen = lb.sg(l);
    Value own = lb.sub(l, lFrozen);
    Value unit = lb.exp(own);
    Value sTok = lb.mul(frozenTok, unit);
    return clippedSurrogate(lb, sTok, adv, rs.eps, rs.epsHigh);
  }
  case PolicyLossKind::cispo: {
    // −sg(min(ρ, 1 + ε_high))·A·l
    Value rho = lb.ratio(l, lOld);
    Value capped = lb.clamp(rho, std::nullopt, 1.0 + rs.epsHigh);
    Value w = lb.sg(capped);
    Value above = lb.cmp(CmpPredicate::gt, rho, lb.cstLike(1.0 + rs.epsHigh, l));
    metrics.push_back(
        {"clip_ratio", lb.reduce(ReduceMode::token_mean, above, m)});
    Value wa = lb.mul(w, adv);
    Value obj = lb.mul(wa, l);
    Value perToken = lb.neg(obj);
    return correctPolicyLoss(lb, rs, a, adv, perToken, m, metrics);
  }
  case PolicyLossKind::sapo: {
    // −(4/τ)·σ(τ(ρ − 1))·A, τ = τ_pos where A > 0, else τ_neg.
    Value rho = lb.ratio(l, lOld);
    Value one = lb.cstLike(1.0, rho);
    Value x = lb.sub(rho, one);
    Value xPos = lb.scale(x, rs.tauPos);
    Value sPos = lb.sigmoid(xPos);
    Value gPos = lb.scale(sPos, 4.0 / rs.tauPos);
    Value xNeg = lb.scale(x, rs.tauNeg);
    Value sNeg = lb.sigmoid(xNeg);
    Value gNeg = lb.scale(sNeg, 4.0 / rs.tauNeg);
    Value zero = lb.cstLike(0.0, adv);
    Value positive = lb.cmp(CmpPredicate::gt, adv, zero);
    Value gate = lb.select(positive, gPos, gNeg);
    Value obj = lb.mul(gate, adv);
    Value perToken = lb.neg(obj);
    return correctPolicyLoss(lb, rs, a, adv, perToken, m, metrics);
  }
  }
  // −min(ρA, clip(ρ, 1 − ε, 1 + ε_high)A)
  Value perToken = clippedPgLoss(lb, l, lOld, adv, rs.eps, rs.epsHigh);
  metrics.push_back(
      {"clip_ratio", clipRatio(lb, l, lOld, adv, m, rs.eps, rs.epsHigh)});
  return correctPolicyLoss(lb, rs, a, adv, perToken, m, metrics);
}

/// The per-token policy loss of a critic-free algorithm. Reads `l`, `mask`,
/// `l_old`, `adv` ([B] or [B,T]) and, with a KL term, `l_ref`; RLOO and ReMax
/// are REINFORCE over sequence log-prob sums, the others the clipped ratio.
Value rlPerTokenLoss(LossBuilder &lb, RlAlgorithm alg, const RlObjective &rs,
                     llvm::StringMap<Value> &a, TrainStep::Metrics &metrics,
                     ReduceMode &mode) {
  Value l = a["l"], m = a["mask"];
  Value adv = lb.bcastLike(a["adv"], l);
  mode = rs.mode;
  if (alg == RlAlgorithm::rloo || alg == RlAlgorithm::remax) {
    // REINFORCE: −(1/B) Σ_i A_i Σ_t m l. With rollouts generated ahead
    // (staleness > 0, hone-pipeline-rollouts) the samples come from the
    // behaviour policy, and the gradient is importance-weighted:
    // −(1/B) Σ_i A_i Σ_t m ρ_t, ρ = exp(l − l_old), whose gradient is
    // ρ·A·∇l (no clip: REINFORCE has none; ρ = 1 on-policy).
    mode = ReduceMode::seq_mean_token_sum;
    if (a.count("l_old"))
      return lb.neg(lb.mul(adv, lb.ratio(l, a["l_old"])));
    return lb.neg(lb.mul(adv, l));
  }
  // The policy loss [+ β·KL(l, l_ref)]
  Value perToken;
  if (alg == RlAlgorithm::reinforce_pp) {
    // Per-token advantages: the clip, with its corrections.
    perToken = clippedPgLoss(lb, l, a["l_old"], adv, rs.eps, rs.epsHigh);
    metrics.push_back({"clip_ratio", clipRatio(lb, l, a["l_old"], adv, m,
                                               rs.eps, rs.epsHigh)});
    perToken = correctPolicyLoss(lb, rs, a, adv, perToken, m, metrics);
  } else {
    perToken = policyLoss(lb, rs, a, adv, metrics);
  }
  if (rs.klInLoss > 0.0 && a.count("l_ref")) {
    Value kl = lb.kl(rs.klEstimator, l, a["l_ref"]);
    metrics.push_back({"kl", lb.reduce(ReduceMode::token_mean, kl, m)});
    perToken = lb.add(perToken, lb.scale(kl, rs.klInLoss));
  }
  return perToken;
}

} // namespace

//===--- Online RL --------------------------------------------------------===//--

LogicalResult Expander::expand(RlOp op) {
  RlSettingsAttr settings = op.getSettings();
  GenerationAttr gen0 = op.getGeneration();
  RlAlgorithm alg = op.getAlgorithm();
  std::optional<Hybrid> hybrid = op.getHybrid();
  Attribute guide = op.getGuidanceAttr();
  // Sequences hold the prompt (left-padded to max_prompt_length) and at most
  // max_new_tokens completion tokens.
  int64_t B = op.getBatchSize(),
          maxT = cast<ModelType>(op.getPolicy().getType()).getArch().getMaxSeq();
  int64_t G = op.getGroupSize(), P = B / G;
  int64_t Tp = std::min(settings.getMaxPromptLength(), maxT - 1);
  int64_t T = std::min(maxT, Tp + gen0.getMaxNewTokens());
  double klCoef = op.getKlCoef().convertToDouble();
  // A sample is correct (group accuracy, SRFT) when its score exceeds this.
  double threshold = 0.5;
  bool isPpo = alg == RlAlgorithm::ppo;
  int64_t epochs = settings.getPpoEpochs();
  // Optimiser steps per pass, each on 1/updates of the rows.
  int64_t updates = settings.getMiniBatches();
  int64_t gradAccum = settings.getGradAccum();
  // The objective sees one mini-batch (constant aggregation: its rows).
  PolicyLossAttr policyLossAttr = op.getPolicyLossAttr();
  RlObjective rs(settings, klCoef, B / updates, T - Tp, policyLossAttr);
  if (policyLossAttr) {
    // The spec checker reports these at the spec's fields; here for IR
    // written by hand.
    bool grpoFamily = alg == RlAlgorithm::grpo || alg == RlAlgorithm::dapo ||
                      alg == RlAlgorithm::dr_grpo;
    if (alg == RlAlgorithm::rloo || alg == RlAlgorithm::remax)
      return op.emitOpError("policy_loss changes the importance ratio, which ")
             << stringifyRlAlgorithm(alg) << " (REINFORCE) has none";
    if (rs.lossKind != PolicyLossKind::clip && !grpoFamily)
      return op.emitOpError("policy_loss ")
             << stringifyPolicyLossKind(rs.lossKind)
             << " needs one advantage per sequence (grpo, dr_grpo, dapo)";
    if (rs.dualClip > 0.0 && rs.lossKind != PolicyLossKind::clip)
      return op.emitOpError("dual_clip bounds the clipped surrogate; kind is ")
             << stringifyPolicyLossKind(rs.lossKind);
    if (hybrid == Hybrid::luffy || hybrid == Hybrid::srft)
      return op.emitOpError("the ")
             << stringifyHybrid(*hybrid)
             << " hybrid has an objective of its own; policy_loss would not "
                "change it";
  }
  double temperature = d(gen0.getTemperature());
  // Generation also ends after any of these strings (none: null).
  ArrayAttr stopStrings = gen0.getStop();
  if (stopStrings && stopStrings.empty())
    stopStrings = ArrayAttr();
  if (hybrid && (isPpo || alg == RlAlgorithm::reinforce_pp ||
                 alg == RlAlgorithm::remax))
    return op.emitOpError("the ")
           << stringifyHybrid(*hybrid)
           << " hybrid is expanded on a group-based algorithm (grpo, "
              "dr_grpo, dapo, rloo); got "
           << stringifyRlAlgorithm(alg);
  if (hybrid && G < 2)
    return op.emitOpError("hybrids compare samples of one prompt: "
                          "group_size must be at least 2");
  if (hybrid && rs.dynamicSampling)
    return op.emitOpError("dynamic sampling drops groups, which the ")
           << stringifyHybrid(*hybrid)
           << " hybrid's demonstrations cannot follow; set dynamic_sampling: "
              "false";
  // A user-written objective replaces the policy loss, the KL term, the
  // entropy bonus and the aggregation.
  std::optional<objective::Program> userObjective;
  if (StringAttr expr = op.getObjectiveAttr()) {
    bool grpoFamily = isGrpoFamily(alg);
    if (!grpoFamily || hybrid || policyLossAttr)
      return op.emitOpError("an objective runs on grpo, dr_grpo or dapo "
                            "stages without a hybrid or a policy_loss");
    objective::Settings st;
    st.values = {{"epsilon", rs.eps},
                 {"epsilon_high", rs.epsHigh},
                 {"beta", klCoef}};
    st.hasReference = op.getRef() && klCoef > 0.0;
    objective::Error err;
    userObjective = objective::parseObjective(expr.getValue(), st, err);
    if (!userObjective)
      return op.emitOpError("objective, at character ")
             << err.pos << ": " << err.message << " (" << err.hint << ")";
  }
  std::string method = stringifyRlAlgorithm(alg).str();
  if (userObjective)
    method += "_objective";
  if (rs.lossKind != PolicyLossKind::clip)
    method += "_" + stringifyPolicyLossKind(rs.lossKind).str();
  if (hybrid)
    method += std::string("_") + stringifyHybrid(*hybrid).str();
  std::string kernel = kernelName(method);
  std::string sftKernel = hybrid == Hybrid::relift ? kernelName("relift_sft")
                                                   : std::string();

  SmallVector<Value> carried{op.getPolicy()};
  if (isPpo)
    carried.push_back(op.getCritic());
  Value buffer;
  // ReLIFT: `buffer_size` unsolved prompts trigger `sft_steps` SFT steps on
  // their demonstrations.
  int64_t reliftBatch = 0;
  if (auto relift = dyn_cast_or_null<ReliftAttr>(guide))
    reliftBatch = relift.getBufferSize();
  if (hybrid == Hybrid::relift) {
    buffer = BufferInitOp::create(
        b, loc,
        BufferType::get(b.getContext(), std::max(4 * reliftBatch, 4 * P)));
    carried.push_back(buffer);
  }
  Value demos = op.getDemos();

  auto forOp = loop(op.getSteps(), carried, [&](Value step, ValueRange it) {
    Value policy = it[0];
    // Prompts, over-sampled for dynamic sampling (DAPO): the rounds of
    // max_resample_rounds drawn and generated at once.
    int64_t over =
        rs.dynamicSampling
            ? 1 + settings.getMaxResampleRounds()
            : 1;
    int64_t Pg = P * over, Bg = B * over;
    auto prompts = DataNextOp::create(
        b, loc, TypeRange{i32({Pg, Tp}), f({Pg, Tp}), i64({Pg})},
        DataPart::prompts, op.getPrompts(), step,
          kCompletionsOnly, kCompletionsOnly);
    Value ptok = prompts.getResult(0), pmask = prompts.getResult(1),
          pids = prompts.getResult(2);
    // Demonstrations of these prompts (hybrids).
    Value dtok, dmask;
    if (demos) {
      // Whole demonstrations: prompt and solution, up to the model's length.
      auto fetch = DataFetchOp::create(b, loc, i32({P, maxT}), f({P, maxT}),
                                       demos, pids, kCompletionsOnly,
                                       kCompletionsOnly);
      dtok = fetch.getTokens();
      dmask = fetch.getMask();
    }
    // Generation.
    Value hintLen;
    if (hybrid == Hybrid::uft) {
      // UFT: the hinted fraction of the solution, annealed to 0.
      ScheduleAttr h = cast<UftAttr>(guide).getHintFraction();
      hintLen = schedule(h.getShape(), step, d(h.getStart()), d(h.getEnd()),
                         h.getWarmupSteps(), h.getSteps());
    }
    SmallVector<Type> genTypes{i32({Bg, T}), f({Bg, T}), f({Bg, T})};
    int64_t offPolicy = 0;
    if (auto luffy = dyn_cast_or_null<LuffyAttr>(guide))
      offPolicy = luffy.getOffPolicyPerGroup();
    if (offPolicy)
      genTypes.push_back(f({Bg}));
    if (hintLen)
      genTypes.push_back(f({Bg, T}));
    bool withDemosInGen = offPolicy > 0 || hintLen;
    auto gen = GenerateOp::create(
        b, loc, genTypes, policy, ptok, pmask, step,
        withDemosInGen ? dtok : Value(), withDemosInGen ? dmask : Value(),
        hintLen, b.getI64IntegerAttr(G),
        b.getF64FloatAttr(temperature > 0 ? temperature : 1.0),
        b.getI64IntegerAttr(gen0.getTopK()), b.getF64FloatAttr(d(gen0.getTopP())),
        b.getBoolAttr(temperature <= 0), b.getI64IntegerAttr(offPolicy),
        b.getBoolAttr(bool(hintLen)),
        b.getBoolAttr(settings.getMaskTruncated()), stopStrings);
    Value tok = gen.getResult(0), mask = gen.getResult(1),
          lOld = gen.getResult(2);
    Value offFlag = offPolicy ? gen.getResult(3) : Value();
    Value hintMask = hintLen ? gen.getResults().back() : Value();
    Value scores = ScoreOp::create(b, loc, f({Bg}), op.getReward(), tok, mask,
                                   pids)
                       .getResult();
    // DAPO: keep groups whose samples disagree.
    Value valid;
    if (rs.dynamicSampling) {
      auto filter = GroupFilterOp::create(
          b, loc,
          TypeRange{i32({B, T}), f({B, T}), f({B, T}), f({B}), f({B})},
          scores, ValueRange{tok, mask, lOld, scores}, ia(G), fa(threshold));
      tok = filter.getResult(0);
      mask = filter.getResult(1);
      lOld = filter.getResult(2);
      scores = filter.getResult(3);
      valid = filter.getResult(4);
    }
    // Truncated importance sampling: the ratio's l_old is the policy's own
    // log-probs, taken again; the generator's weigh each token.
    Value lRollout;
    if (rs.tisCap > 0.0) {
      lRollout = lOld;
      lOld = LogprobOp::create(b, loc, TypeRange{f({B, T})}, policy, tok,
                               nullptr)
                 .getResult(0);
    }
    Value lRef;
    if (op.getRef() && (klCoef > 0.0 || isPpo)) {
      auto ref = LogprobOp::create(b, loc, TypeRange{f({B, T})}, op.getRef(),
                                   tok, nullptr);
      lRef = ref.getResult(0);
    }

    TrainStep ts(b, loc, elem);
    unsigned pol = ts.model(policy);
    SmallVector<Value> next;

    if (isPpo) {
      // PPO: GAE over token rewards (the KL penalty in the reward unless
      // kl_placement is in_loss).
      Value critic = it[1];
      bool klInLoss = rs.klInLoss > 0.0;
      Value vOld = ValueOp::create(b, loc, f({B, T}), critic, tok, Value());
      Value zeros = lRef ? lRef : lOld;
      Value rTok = shape(RewardShaping::token_kl, f({B, T}), scores, mask,
                         lOld, zeros, rs.klInReward);
      auto gae = AdvantageOp::create(
          b, loc, TypeRange{f({B, T}), f({B, T})},
          AdvantageKindAttr::get(b.getContext(), AdvantageKind::gae),
          ValueRange{rTok, mask, vOld}, ia(1), fa(d(settings.getGamma())),
          fa(d(settings.getLam())), fa(kAdvantageStdEps));
      unsigned cri = ts.model(critic);
      ts.read(pol, tok, "logprob+entropy", {"l", "entropy"});
      ts.read(cri, tok, "value", {"v"});
      ts.input(mask, "mask");
      ts.input(lOld, "l_old");
      ts.input(gae.getResult(0), "adv");
      ts.input(gae.getResult(1), "returns");
      ts.input(vOld, "v_old");
      if (klInLoss && lRef)
        ts.input(lRef, "l_ref");
      if (lRollout)
        ts.input(lRollout, "l_rollout");
      double epsV = d(settings.getValueClip());
      double vf = d(settings.getVfCoef()), ent = rs.entropyCoef;
      auto train = ts.build(
          kernel, op.getOptimizer(), gradAccum,
          [&](LossBuilder &lb, auto &a, auto &metrics) -> Value {
            Value m = a["mask"];
            // policy: −min(ρA, clip(ρ, 1−ε, 1+ε)A), token mean
            Value pgTok = clippedPgLoss(lb, a["l"], a["l_old"], a["adv"],
                                        rs.eps, rs.epsHigh);
            pgTok = correctPolicyLoss(lb, rs, a, a["adv"], pgTok, m, metrics);
            Value pg = lb.reduce(ReduceMode::token_mean, pgTok, m);
            // value: ½·max((V − R)², (V_old + clip(V − V_old, ±ε_v) − R)²)
            Value v = a["v"], R = a["returns"], vo = a["v_old"];
            Value vClip = lb.add(vo, lb.clamp(lb.sub(v, vo), -epsV, epsV));
            Value e1 = lb.sub(v, R), e2 = lb.sub(vClip, R);
            Value vl = lb.scale(
                lb.reduce(ReduceMode::token_mean,
                          lb.max(lb.mul(e1, e1), lb.mul(e2, e2)), m),
                0.5);
            Value entropy =
                lb.reduce(ReduceMode::token_mean, a["entropy"], m);
            metrics.push_back({"pg_loss", pg});
            metrics.push_back({"clip_ratio",
                               clipRatio(lb, a["l"], a["l_old"],
                                         lb.bcastLike(a["adv"], a["l"]), m,
                                         rs.eps, rs.epsHigh)});
            metrics.push_back({"vf_loss", vl});
            metrics.push_back({"entropy", entropy});
            Value loss = lb.add(pg, lb.scale(vl, vf));
            if (ent != 0.0)
              loss = lb.sub(loss, lb.scale(entropy, ent));
            if (a.count("l_ref")) {
              Value kl = lb.reduce(ReduceMode::token_mean,
                                   lb.kl(rs.klEstimator, a["l"], a["l_ref"]),
                                   m);
              metrics.push_back({"kl", kl});
              loss = lb.add(loss, lb.scale(kl, rs.klInLoss));
            }
            return loss;
          },
          epochs, updates);
      next = {train.getResult(0), train.getResult(1)};
      SyncWeightsOp::create(b, loc, next[0]);
      return next;
    }

    // Critic-free advantages; a KL penalty placed in the reward shapes the
    // scores first (k1 summed over the sequence, or per token).
    Value adv;
    Value shaped = scores;
    if (rs.klInReward > 0.0 && lRef && alg != RlAlgorithm::reinforce_pp)
      shaped = shape(RewardShaping::seq_kl, f({B}), scores, mask, lOld, lRef,
                     rs.klInReward);
    const double gamma = d(settings.getGamma()), lam = d(settings.getLam());
    switch (alg) {
    case RlAlgorithm::grpo:
    case RlAlgorithm::dapo:
    case RlAlgorithm::dr_grpo:
      adv = rs.scaleRewards
                ? advantage(AdvantageKind::group_norm, f({B}), shaped, G, gamma,
                            lam)
                : advantage(AdvantageKind::group_center, f({B}), shaped, G,
                            gamma, lam);
      break;
    case RlAlgorithm::rloo:
      adv = advantage(AdvantageKind::leave_one_out, f({B}), shaped, G, gamma,
                      lam);
      break;
    case RlAlgorithm::reinforce_pp: {
      Value rTok = shape(RewardShaping::token_kl, f({B, T}), scores, mask,
                         lOld, lRef ? lRef : lOld, rs.klInReward);
      adv = advantage(AdvantageKind::global_norm, f({B, T}),
                      ValueRange{rTok, mask}, 1, gamma, lam);
      break;
    }
    case RlAlgorithm::remax: {
      auto greedy = GenerateOp::create(
          b, loc, TypeRange{i32({B, T}), f({B, T}), f({B, T})}, policy, ptok,
          pmask, step, Value(), Value(), Value(), b.getI64IntegerAttr(G),
          b.getF64FloatAttr(1.0), b.getI64IntegerAttr(0),
          b.getF64FloatAttr(1.0), b.getBoolAttr(true), b.getI64IntegerAttr(0),
          b.getBoolAttr(false), b.getBoolAttr(false), stopStrings);
      Value gScores = ScoreOp::create(b, loc, f({B}), op.getReward(),
                                      greedy.getResult(0),
                                      greedy.getResult(1), pids);
      adv = advantage(AdvantageKind::greedy_baseline, f({B}),
                      ValueRange{shaped, gScores}, 1, gamma, lam);
      break;
    }
    default:
      break;
    }

    bool srft = hybrid == Hybrid::srft;
    bool withEntropy = srft || rs.entropyCoef != 0.0 ||
                       (userObjective && userObjective->uses("entropy"));
    ts.read(pol, tok, withEntropy ? "logprob+entropy" : "logprob",
            withEntropy ? ArrayRef<StringRef>{"l", "entropy"}
                        : ArrayRef<StringRef>{"l"});
    bool demoRead = hybrid == Hybrid::chord || hybrid == Hybrid::hpt ||
                    hybrid == Hybrid::srft;
    if (demoRead)
      ts.read(pol, dtok, srft ? "logprob+entropy" : "logprob",
              srft ? ArrayRef<StringRef>{"l_demo", "entropy_demo"}
                   : ArrayRef<StringRef>{"l_demo"});
    ts.input(mask, "mask");
    // REINFORCE (rloo, remax) reads the behaviour log-probs only when its
    // rollouts are generated ahead (rlPerTokenLoss) or a hybrid's objective
    // takes the ratio (LUFFY's on-policy tokens, SRFT's incorrect samples).
    if ((alg != RlAlgorithm::rloo && alg != RlAlgorithm::remax) ||
        settings.getStaleness() > 0 || hybrid == Hybrid::luffy ||
        hybrid == Hybrid::srft)
      ts.input(lOld, "l_old");
    ts.input(adv, "adv");
    // LUFFY and SRFT have objectives of their own without a KL term.
    bool klTerm = rs.klInLoss > 0.0 && lRef && alg != RlAlgorithm::rloo &&
                  alg != RlAlgorithm::remax && hybrid != Hybrid::luffy &&
                  !srft;
    bool objectiveRef = userObjective && userObjective->uses("ref_logprob");
    if ((klTerm || objectiveRef) && lRef)
      ts.input(lRef, "l_ref");
    if (userObjective && userObjective->uses("reward"))
      ts.input(scores, "reward");
    if (valid)
      ts.input(valid, "valid");
    if (lRollout)
      ts.input(lRollout, "l_rollout");
    if (demoRead)
      ts.input(dmask, "mask_demo");
    Value mu;
    if (hybrid == Hybrid::chord) {
      ScheduleAttr m = cast<ChordAttr>(guide).getMu();
      mu = schedule(m.getShape(), step, d(m.getStart()), d(m.getEnd()),
                    m.getWarmupSteps(), m.getSteps());
      ts.input(mu, "mu");
    }
    if (offFlag)
      ts.input(offFlag, "off_policy");
    if (hintMask)
      ts.input(hintMask, "mask_hint");
    Value accP, accS;
    if (hybrid == Hybrid::hpt || hybrid == Hybrid::relift ||
        hybrid == Hybrid::srft) {
      auto acc = GroupAccuracyOp::create(b, loc, f({P}), f({B}), scores,
                                         ia(G), fa(threshold));
      accP = acc.getPerPrompt();
      accS = acc.getPerSample();
    }
    if (hybrid == Hybrid::hpt) {
      // Per prompt: RL if accuracy > γ, else SFT on its demonstration.
      double g = d(cast<HptAttr>(guide).getThreshold());
      ts.input(indicator(CmpPredicate::gt, accS, g), "use_rl");
      ts.input(indicator(CmpPredicate::le, accP, g), "use_sft");
    }
    if (srft)
      ts.input(indicator(CmpPredicate::gt, scores, threshold), "correct");

    auto chord = dyn_cast_or_null<ChordAttr>(guide);
    auto luffy = dyn_cast_or_null<LuffyAttr>(guide);
    auto uft = dyn_cast_or_null<UftAttr>(guide);
    auto srftSettings = dyn_cast_or_null<SrftAttr>(guide);
    bool phi = chord && chord.getTokenWeighting();
    double luffyGamma = luffy ? d(luffy.getShapingGamma()) : 0.0;
    double hintCoef = uft ? d(uft.getSftCoef()) : 0.0;
    double srftSft = srftSettings ? d(srftSettings.getSftCoef()) : 0.0,
           srftPos = srftSettings ? d(srftSettings.getPositiveCoef()) : 0.0;
    auto train = ts.build(kernel, op.getOptimizer(), gradAccum,
                          [&](LossBuilder &lb, auto &a,
                                          auto &metrics) -> Value {
      if (a.count("valid"))
        a["mask"] = lb.mul(a["mask"], lb.bcastLike(a["valid"], a["mask"]));
      if (userObjective)
        return buildObjective(lb, *userObjective, a, G);
      Value l = a["l"], m = a["mask"];
      Value perToken;
      ReduceMode mode;
      std::optional<double> norm;
      if (hybrid == Hybrid::luffy) {
        // LUFFY: on-policy tokens clipped ρA; off-policy tokens
        // p/(p + γ)·A (no clip); token mean, no KL.
        Value adv = lb.bcastLike(a["adv"], l);
        Value onp = clippedPgLoss(lb, l, a["l_old"], adv, rs.eps, rs.epsHigh);
        Value p = lb.exp(l);
        Value shaped = lb.div(p, lb.add(p, lb.cstLike(luffyGamma, p)));
        Value offp = lb.neg(lb.mul(shaped, adv));
        perToken = lb.select(lb.bcastLike(a["off_policy"], l), offp, onp);
        return lb.reduce(ReduceMode::token_mean, perToken, m);
      }
      if (srft) {
        // SRFT: demos −srft_sft·sg(exp(−H_d))·l_d − exp(l_d) (off-policy
        // RL, A = 1, behaviour prob 1); correct samples
        // −srft_pos·sg(exp(H))·l; incorrect samples advantage −1: +ρ.
        Value md = a["mask_demo"], ld = a["l_demo"];
        Value hd = lb.sg(lb.reduce(ReduceMode::token_mean, a["entropy_demo"], md));
        Value hs = lb.sg(lb.reduce(ReduceMode::token_mean, a["entropy"], m));
        Value wd = lb.scale(lb.exp(lb.neg(hd)), srftSft);
        Value demoTok = lb.add(lb.mul(lb.bcastLike(wd, ld), lb.neg(ld)),
                               lb.neg(lb.exp(ld)));
        Value demoLoss = lb.reduce(ReduceMode::token_mean, demoTok, md);
        Value wp = lb.scale(lb.exp(hs), srftPos);
        Value pos = lb.mul(lb.bcastLike(wp, l), lb.neg(l));
        Value negt = lb.ratio(l, a["l_old"]);
        Value selfTok = lb.select(lb.bcastLike(a["correct"], l), pos, negt);
        Value selfLoss = lb.reduce(ReduceMode::token_mean, selfTok, m);
        metrics.push_back({"sft_loss", demoLoss});
        metrics.push_back({"entropy", hs});
        return lb.add(demoLoss, selfLoss);
      }
      perToken = rlPerTokenLoss(lb, alg, rs, a, metrics, mode);
      norm = rs.norm;
      if (hybrid == Hybrid::hpt) {
        // HPT: L = RL over prompts with accuracy > γ + SFT over the others.
        Value mRl = lb.mul(m, lb.bcastLike(a["use_rl"], m));
        Value md = lb.mul(a["mask_demo"],
                          lb.bcastLike(a["use_sft"], a["mask_demo"]));
        Value rl = lb.reduce(mode, perToken, mRl, norm);
        Value sft = lb.reduce(ReduceMode::token_mean, lb.neg(a["l_demo"]), md);
        metrics.push_back({"sft_loss", sft});
        return lb.add(rl, sft);
      }
      Value rl = lb.reduce(mode, perToken, m, norm);
      if (hybrid == Hybrid::chord) {
        // CHORD: (1 − μ)·L_RL + μ·L_SFT; with chord_phi, SFT tokens
        // weighted by sg(p(1 − p)).
        Value ld = a["l_demo"], sftTok = lb.neg(ld);
        if (phi) {
          Value p = lb.exp(ld);
          sftTok = lb.mul(lb.sg(lb.mul(p, lb.sub(lb.cstLike(1.0, p), p))),
                          sftTok);
        }
        Value sft = lb.reduce(ReduceMode::token_mean, sftTok, a["mask_demo"]);
        Value muv = a["mu"];
        metrics.push_back({"sft_loss", sft});
        metrics.push_back({"mu", muv});
        return lb.add(lb.mul(lb.sub(lb.cstLike(1.0, muv), muv), rl),
                      lb.mul(muv, sft));
      }
      if (hybrid == Hybrid::uft) {
        // UFT: RL on the sampled tokens + sft_coef·(−log-likelihood of
        // the hint tokens).
        Value hint = lb.reduce(ReduceMode::token_mean, lb.neg(l), a["mask_hint"]);
        metrics.push_back({"hint_nll", hint});
        return lb.add(rl, lb.scale(hint, hintCoef));
      }
      if (rs.entropyCoef != 0.0) {
        // Entropy bonus: − c·token_mean(H)
        Value h = lb.reduce(ReduceMode::token_mean, a["entropy"], m);
        metrics.push_back({"entropy", h});
        rl = lb.sub(rl, lb.scale(h, rs.entropyCoef));
      }
      return rl;
    }, epochs, updates);
    next.push_back(train.getResult(0));
    SyncWeightsOp::create(b, loc, next[0]);

    if (hybrid == Hybrid::relift) {
      // ReLIFT: prompts no sample solved go to the buffer; once it holds
      // buffer_size of them, sft_steps SFT steps on their demonstrations.
      Value hard = indicator(CmpPredicate::le, accP, 0.0);
      Value buf = BufferPushOp::create(b, loc, it[1], pids, hard);
      int64_t Bs = reliftBatch;
      auto pop = BufferPopOp::create(b, loc, buf.getType(), i64({Bs}),
                                     b.getI1Type(), buf);
      Type modelType = next[0].getType();
      auto ifOp = scf::IfOp::create(
          b, loc, TypeRange{modelType}, pop.getReady(),
          /*withElseRegion=*/true);
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(&ifOp.getThenRegion().front());
        auto fetch = DataFetchOp::create(b, loc, i32({Bs, maxT}),
                                         f({Bs, maxT}), demos, pop.getIds(),
                                         kCompletionsOnly, kCompletionsOnly);
        Value model = next[0];
        for (int64_t k = 0, e = cast<ReliftAttr>(guide).getSftSteps(); k < e;
             ++k) {
          TrainStep sft(b, loc, elem);
          sft.model(model);
          sft.read(0, fetch.getTokens(), "logprob", {"l"});
          sft.input(fetch.getMask(), "mask");
          auto st = sft.build(sftKernel, op.getOptimizer(), gradAccum,
                              [&](LossBuilder &lb, auto &a,
                                                  auto &) -> Value {
            return lb.reduce(ReduceMode::token_mean, lb.neg(a["l"]),
                             a["mask"]);
          });
          model = st.getResult(0);
        }
        scf::YieldOp::create(b, loc, model);
        b.setInsertionPointToStart(&ifOp.getElseRegion().front());
        scf::YieldOp::create(b, loc, next[0]);
      }
      next[0] = ifOp.getResult(0);
      next.push_back(pop.getResult());
    }
    return next;
  });
  op.getNewPolicy().replaceAllUsesWith(forOp.getResult(0));
  nameOutputs(op, forOp);
  if (op.getNewCritic())
    op.getNewCritic().replaceAllUsesWith(forOp.getResult(1));
  return success();
}

} // namespace mlir::hone::expand
