//===- HoneLossOps.td - hone loss algebra ------------------*- tablegen -*-===//
//
// The objective inside a hone.train_step region: element-wise and masked
// reduction ops on per-token / per-sequence tensors, differentiable by
// hone-differentiate (docs/design.md, "IR levels").
//
// Three shapes occur: per-token `tensor<BxTxf32|f64>`, per-sequence
// `tensor<Bxf32|f64>` and scalars `tensor<f32|f64>`. Masks are tensors of
// the same element type holding 0 or 1. Element-wise ops take operands of
// one type; `hone.loss.broadcast` widens a scalar or per-sequence value.
//
//===----------------------------------------------------------------------===//

#ifndef HONE_LOSS_OPS_TD
#define HONE_LOSS_OPS_TD

include "dialect/HoneTypes.td"
include "dialect/HoneSettings.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

// Hone_KlEstimator lives in HoneSettings.td (the RL settings use it).

def Hone_ReduceMode : I32EnumAttr<"ReduceMode", "aggregation of a masked loss", [
    I32EnumAttrCase<"token_mean", 0>,           // Σ m·x / Σ m
    I32EnumAttrCase<"seq_mean_token_mean", 1>,  // (1/B) Σ_i Σ_t m·x / Σ_t m
    I32EnumAttrCase<"seq_mean_token_sum", 2>,   // (1/B) Σ_i Σ_t m·x
    I32EnumAttrCase<"constant", 3>,             // Σ m·x / normaliser
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}
def Hone_ReduceModeAttr : Hone_EnumAttr<Hone_ReduceMode, "reduce_mode">;

def Hone_CmpPredicate : I32EnumAttr<"CmpPredicate", "comparison of two values", [
    I32EnumAttrCase<"lt", 0>, I32EnumAttrCase<"le", 1>,
    I32EnumAttrCase<"gt", 2>, I32EnumAttrCase<"ge", 3>,
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}
def Hone_CmpPredicateAttr : Hone_EnumAttr<Hone_CmpPredicate, "cmp_predicate">;

//===----------------------------------------------------------------------===//
// Types
//===----------------------------------------------------------------------===//

def Hone_LossFloat : AnyTypeOf<[F32, F64]>;
def Hone_LossTensor : Type<
    And<[AnyRankedTensor.predicate,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).getRank() <= 2">,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).hasStaticShape()">,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).getElementType().isF32() || ::llvm::cast<::mlir::RankedTensorType>($_self).getElementType().isF64()">]>,
    "a statically shaped f32/f64 tensor of rank 0 (scalar), 1 (per sequence) or 2 (per token)",
    "::mlir::RankedTensorType">;

class Hone_LossOp<string mnemonic, list<Trait> traits = []>
    : Hone_Op<"loss." # mnemonic, traits>;

//===----------------------------------------------------------------------===//
// Element-wise ops
//===----------------------------------------------------------------------===//

class Hone_LossUnaryOp<string mnemonic, string formula, list<Trait> traits = []>
    : Hone_LossOp<mnemonic, !listconcat(traits, [Pure, SameOperandsAndResultType])> {
  let summary = "element-wise " # formula;
  let description = "`y = " # formula # "`, element by element.\n\n"
      # "```mlir\n%y = hone.loss." # mnemonic # " %x : tensor<4x16xf32>\n```";
  let arguments = (ins Hone_LossTensor:$x);
  let results = (outs Hone_LossTensor:$y);
  let assemblyFormat = "$x attr-dict `:` type($y)";
}

def Hone_LossExpOp : Hone_LossUnaryOp<"exp", "exp(x)">;
def Hone_LossLogOp : Hone_LossUnaryOp<"log", "log(x)">;
def Hone_LossNegOp : Hone_LossUnaryOp<"neg", "−x">;
def Hone_LossSigmoidOp : Hone_LossUnaryOp<"sigmoid", "σ(x) = 1/(1 + exp(−x))">;
def Hone_LossLogSigmoidOp
    : Hone_LossUnaryOp<"log_sigmoid", "log σ(x) = −softplus(−x), computed stably">;
def Hone_LossSqrtOp : Hone_LossUnaryOp<"sqrt", "√x">;

def Hone_LossStopGradientOp : Hone_LossUnaryOp<"stop_gradient", "sg(x) = x"> {
  let summary = "the identity, through which no gradient flows";
  let description = [{
    `sg(x)`: the value of `x`, treated as a constant by `hone-differentiate`.
    DFT's token weight is `sg(p)`:

    ```mlir
    %w = hone.loss.stop_gradient %p : tensor<4x16xf32>
    ```
  }];
}

class Hone_LossBinaryOp<string mnemonic, string formula, list<Trait> traits = []>
    : Hone_LossOp<mnemonic, !listconcat(traits, [Pure, SameOperandsAndResultType])> {
  let summary = "element-wise " # formula;
  let description = "`y = " # formula # "`, element by element; both operands "
      # "and the result have one type (use `hone.loss.broadcast` to widen a "
      # "scalar or a per-sequence value).\n\n"
      # "```mlir\n%y = hone.loss." # mnemonic # " %a, %b : tensor<4x16xf32>\n```";
  let arguments = (ins Hone_LossTensor:$a, Hone_LossTensor:$b);
  let results = (outs Hone_LossTensor:$y);
  let assemblyFormat = "$a `,` $b attr-dict `:` type($y)";
}

def Hone_LossAddOp : Hone_LossBinaryOp<"add", "a + b", [Commutative]>;
def Hone_LossSubOp : Hone_LossBinaryOp<"sub", "a − b">;
def Hone_LossMulOp : Hone_LossBinaryOp<"mul", "a · b", [Commutative]>;
def Hone_LossDivOp : Hone_LossBinaryOp<"div", "a / b">;
def Hone_LossMinOp : Hone_LossBinaryOp<"min", "min(a, b) (the gradient goes to a on ties)">;
def Hone_LossMaxOp : Hone_LossBinaryOp<"max", "max(a, b) (the gradient goes to a on ties)">;

def Hone_LossRatioOp : Hone_LossBinaryOp<"ratio", "exp(a − b)"> {
  let summary = "probability ratio exp(a − b) of two log-probabilities";
  let description = [{
    `ρ = exp(l − l_old)`, the importance ratio of PPO-style objectives.

    ```mlir
    %rho = hone.loss.ratio %l, %l_old : tensor<4x16xf32>
    ```
  }];
}

def Hone_LossKlOp : Hone_LossOp<"kl", [Pure, AllTypesMatch<["l", "ref", "y"]>]> {
  let summary = "per-token KL estimator between the policy and a reference";
  let description = [{
    With `d = l_ref − l`: `k1 = −d`, `k2 = ½d²`, `k3 = exp(d) − d − 1`
    (Schulman's estimators; k3 is unbiased and non-negative, GRPO's choice).

    ```mlir
    %kl = hone.loss.kl k3 %l, %l_ref : tensor<4x16xf32>
    ```
  }];
  let arguments = (ins Hone_KlEstimatorAttr:$estimator, Hone_LossTensor:$l,
                       Hone_LossTensor:$ref);
  let results = (outs Hone_LossTensor:$y);
  let assemblyFormat = "custom<Keyword>($estimator) $l `,` $ref attr-dict `:` type($y)";
}

def Hone_LossClampOp : Hone_LossOp<"clamp", [Pure, SameOperandsAndResultType]> {
  let summary = "clamp to [min, max]";
  let description = [{
    `clip(x, min, max)`; either bound may be absent. The gradient passes
    where `min ≤ x ≤ max` (bounds included, as in PyTorch).

    ```mlir
    %c = hone.loss.clamp %rho min 8.000000e-01 max 1.200000e+00 : tensor<4x16xf32>
    ```
  }];
  let arguments = (ins Hone_LossTensor:$x, OptionalAttr<F64Attr>:$min,
                       OptionalAttr<F64Attr>:$max);
  let results = (outs Hone_LossTensor:$y);
  let assemblyFormat = "$x (`min` $min^)? (`max` $max^)? attr-dict `:` type($y)";
  let hasVerifier = 1;
}

def Hone_LossCmpOp : Hone_LossOp<"cmp", [Pure, SameOperandsAndResultType]> {
  let summary = "element-wise comparison as a 0/1 mask";
  let description = [{
    `1` where `a pred b` holds, else `0`. Piecewise constant: no gradient
    flows through it.

    ```mlir
    %correct = hone.loss.cmp gt %r, %half : tensor<8xf32>
    ```
  }];
  let arguments = (ins Hone_CmpPredicateAttr:$predicate, Hone_LossTensor:$a,
                       Hone_LossTensor:$b);
  let results = (outs Hone_LossTensor:$y);
  let assemblyFormat = "custom<Keyword>($predicate) $a `,` $b attr-dict `:` type($y)";
}

def Hone_LossSelectOp : Hone_LossOp<"select", [Pure, SameOperandsAndResultType]> {
  let summary = "element-wise choice by a 0/1 mask";
  let description = [{
    `cond ≠ 0 ? a : b`. HPT switches between the RL and the SFT loss per
    prompt with it. No gradient flows into `cond`.

    ```mlir
    %y = hone.loss.select %use_rl, %rl, %sft : tensor<4xf32>
    ```
  }];
  let arguments = (ins Hone_LossTensor:$cond, Hone_LossTensor:$a,
                       Hone_LossTensor:$b);
  let results = (outs Hone_LossTensor:$y);
  let assemblyFormat = "$cond `,` $a `,` $b attr-dict `:` type($y)";
}

//===----------------------------------------------------------------------===//
// Constants and shapes
//===----------------------------------------------------------------------===//

def Hone_LossConstOp : Hone_LossOp<"const", [Pure, ConstantLike]> {
  let summary = "a tensor with every element equal to `value`";
  let description = [{
    Hyper-parameters enter objectives as constants; a value that changes
    during training (CHORD's μ) is a block argument instead.

    ```mlir
    %beta = hone.loss.const 1.000000e-01 : tensor<f32>
    %ones = hone.loss.const 1.000000e+00 : tensor<4x16xf32>
    ```
  }];
  let arguments = (ins F64Attr:$value);
  let results = (outs Hone_LossTensor:$y);
  let assemblyFormat = "$value attr-dict `:` type($y)";
  let hasFolder = 1;
}

def Hone_LossBroadcastOp : Hone_LossOp<"broadcast", [Pure]> {
  let summary = "widen a scalar or per-sequence value";
  let description = [{
    Scalar → per-sequence or per-token, per-sequence `[B]` → per-token
    `[B, T]` (every token of sequence `i` gets `x[i]`).

    ```mlir
    %a_tok = hone.loss.broadcast %a : tensor<4xf32> to tensor<4x16xf32>
    ```
  }];
  let arguments = (ins Hone_LossTensor:$x);
  let results = (outs Hone_LossTensor:$y);
  let assemblyFormat = "$x attr-dict `:` type($x) `to` type($y)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

def Hone_LossSumOp : Hone_LossOp<"sum", [Pure]> {
  let summary = "sum of all elements, as a scalar";
  let description = [{
    ```mlir
    %s = hone.loss.sum %x : tensor<4xf32> -> tensor<f32>
    ```
  }];
  let arguments = (ins Hone_LossTensor:$x);
  let results = (outs Hone_LossTensor:$y);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($y)";
  let hasVerifier = 1;
}

def Hone_LossMeanOp : Hone_LossOp<"mean", [Pure]> {
  let summary = "mean of all elements, as a scalar";
  let description = [{
    The batch mean of a per-sequence loss (DPO):

    ```mlir
    %loss = hone.loss.mean %per_pair : tensor<4xf32> -> tensor<f32>
    ```
  }];
  let arguments = (ins Hone_LossTensor:$x);
  let results = (outs Hone_LossTensor:$y);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($y)";
  let hasVerifier = 1;
}

def Hone_LossSeqSumOp : Hone_LossOp<"seq_sum", [Pure,
    OptionalTypesMatchWith<"the mask has the operand's type", "x", "mask", "$_self">]> {
  let summary = "per-sequence masked sum Σ_t m·x";
  let description = [{
    `y_i = Σ_t m_it·x_it`; without a mask, the plain row sum. The sequence
    log-probability is `logπ(y) = seq_sum(l, m)`, and `|y| = seq_sum(m)`.

    ```mlir
    %logp = hone.loss.seq_sum %l mask %m : tensor<4x16xf32> -> tensor<4xf32>
    ```
  }];
  let arguments = (ins Hone_LossTensor:$x, Optional<Hone_LossTensor>:$mask);
  let results = (outs Hone_LossTensor:$y);
  let assemblyFormat = "$x (`mask` $mask^)? attr-dict `:` type($x) `->` type($y)";
  let hasVerifier = 1;
}

def Hone_LossSeqMeanOp : Hone_LossOp<"seq_mean", [Pure, AllTypesMatch<["x", "mask"]>]> {
  let summary = "per-sequence masked mean Σ_t m·x / max(Σ_t m, 1)";
  let description = [{
    Length normalisation (SimPO's `logπ(y)/|y|`, ORPO's mean log-prob). An
    empty sequence gives 0.

    ```mlir
    %avg = hone.loss.seq_mean %l mask %m : tensor<4x16xf32> -> tensor<4xf32>
    ```
  }];
  let arguments = (ins Hone_LossTensor:$x, Hone_LossTensor:$mask);
  let results = (outs Hone_LossTensor:$y);
  let assemblyFormat = "$x `mask` $mask attr-dict `:` type($x) `->` type($y)";
  let hasVerifier = 1;
}

def Hone_LossMaskedReduceOp : Hone_LossOp<"masked_reduce", [Pure, AllTypesMatch<["x", "mask"]>]> {
  let summary = "masked loss aggregation with an explicit mode";
  let description = [{
    Reduces a per-token loss `x` under mask `m` to a scalar:

    | mode | value |
    |---|---|
    | `token_mean` | `Σ m·x / max(Σ m, 1)` over the whole batch (DAPO) |
    | `seq_mean_token_mean` | `(1/B) Σ_i Σ_t m·x / max(Σ_t m, 1)` (GRPO) |
    | `seq_mean_token_sum` | `(1/B) Σ_i Σ_t m·x` (REINFORCE, RLOO) |
    | `constant` | `Σ m·x / normaliser` (Dr. GRPO) |

    A per-sequence `x` takes `token_mean` (a weighted mean over sequences)
    or `constant`.

    ```mlir
    %loss = hone.loss.masked_reduce seq_mean_token_mean %x, %m : tensor<4x16xf32> -> tensor<f32>
    %loss = hone.loss.masked_reduce constant %x, %m normaliser 6.400000e+01 : tensor<4x16xf32> -> tensor<f32>
    ```
  }];
  let arguments = (ins Hone_ReduceModeAttr:$mode, Hone_LossTensor:$x,
                       Hone_LossTensor:$mask, OptionalAttr<F64Attr>:$normaliser);
  let results = (outs Hone_LossTensor:$y);
  let assemblyFormat = [{
    custom<Keyword>($mode) $x `,` $mask (`normaliser` $normaliser^)? attr-dict
    `:` type($x) `->` type($y)
  }];
  let hasVerifier = 1;
}

def Hone_LossGroupMeanOp : Hone_LossOp<"group_mean", [Pure, SameOperandsAndResultType]> {
  let summary = "mean over groups of consecutive sequences";
  let description = [{
    Sequences `i` with equal `i / group_size` form a group (the samples of
    one prompt); every element gets its group's mean.

    ```mlir
    %mu = hone.loss.group_mean %r {group_size = 4 : i64} : tensor<8xf32>
    ```
  }];
  let arguments = (ins Hone_LossTensor:$x, I64Attr:$group_size);
  let results = (outs Hone_LossTensor:$y);
  let assemblyFormat = "$x attr-dict `:` type($y)";
  let hasVerifier = 1;
}

def Hone_LossGroupStdOp : Hone_LossOp<"group_std", [Pure, SameOperandsAndResultType]> {
  let summary = "standard deviation over groups of consecutive sequences";
  let description = [{
    `sqrt(Σ_g (x − mean_g)² / (G − correction))`, `correction` 1 (Bessel,
    PyTorch's default, as TRL's GRPO) or 0; every element gets its group's.

    ```mlir
    %sd = hone.loss.group_std %r {group_size = 4 : i64} : tensor<8xf32>
    ```
  }];
  let arguments = (ins Hone_LossTensor:$x, I64Attr:$group_size,
                       DefaultValuedAttr<I64Attr, "1">:$correction);
  let results = (outs Hone_LossTensor:$y);
  let assemblyFormat = "$x attr-dict `:` type($y)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Terminator
//===----------------------------------------------------------------------===//

def Hone_LossYieldOp : Hone_LossOp<"yield", [Pure, Terminator,
                                             AttrSizedOperandSegments]> {
  let summary = "the objective's scalar loss, named metrics and (after differentiation) gradients";
  let description = [{
    Ends a `hone.train_step` region. The objective region yields the loss
    and metrics; the gradient region that `hone-differentiate` builds also
    yields `∂loss/∂arg` for each differentiable block argument, in order.
    Metrics are logged under their names (`kl`, `clip_ratio`, …).

    ```mlir
    hone.loss.yield %loss metrics ["kl" = %kl] : tensor<f32>, tensor<f32>
    hone.loss.yield %loss grads(%dl : tensor<4x16xf32>) : tensor<f32>
    ```
  }];
  let arguments = (ins Hone_LossTensor:$loss, Variadic<Hone_LossTensor>:$metrics,
                       Variadic<Hone_LossTensor>:$grads,
                       StrArrayAttr:$metric_names);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
}

#endif // HONE_LOSS_OPS_TD
