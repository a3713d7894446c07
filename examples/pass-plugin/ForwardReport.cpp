//===- ForwardReport.cpp - forward passes per stage iteration, per model --===//
//
// `example-forward-report` reads step-level IR and reports, for every stage
// loop, how many forward passes one iteration runs, of which model and at
// which sampling temperature, as a remark at the stage:
//
//   honec spec.textproto --compile-to=step
//     --load-pass-plugin=./HoneExamplePlugin.so
//     --step-passes=example-forward-report
//
// (one command line)
//
// It uses typed accessors only: the generated getters of the step ops,
// `modelNamesOf` (which model an op runs) and `producingGenerate` (the
// generate op whose temperature log-probs of sampled tokens use), both in
// dialect/HoneOps.h. docs/tutorial-pass-plugin.md walks through this file.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Pass/Pass.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;

namespace {

/// Forward passes of one kind, by model and temperature.
struct Count {
  std::string model, kind;
  double temperature;
  int64_t n = 0;
};

struct ForwardReportPass
    : public PassWrapper<ForwardReportPass,
                         OperationPass<mlir::hone::PipelineOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ForwardReportPass)

  StringRef getArgument() const final { return "example-forward-report"; }
  StringRef getDescription() const final {
    return "Report forward passes per stage iteration, per model and "
           "temperature (step-level IR)";
  }

  void runOnOperation() override {
    // Stage loops are the scf.for ops directly in the pipeline body.
    for (Operation &op : getOperation().getBody().front())
      if (auto loop = dyn_cast<scf::ForOp>(op))
        report(loop);
  }

  void report(scf::ForOp loop) {
    std::vector<Count> counts;
    auto add = [&](StringRef model, StringRef kind, double t, int64_t n) {
      for (Count &c : counts)
        if (c.model == model && c.kind == kind && c.temperature == t) {
          c.n += n;
          return;
        }
      counts.push_back({model.str(), kind.str(), t, n});
    };
    // The temperature log-probs of `tokens` are taken at: the generate that
    // sampled them, or 1 for data.
    auto temperatureOf = [](Value tokens) {
      mlir::hone::GenerateOp gen = mlir::hone::producingGenerate(tokens);
      return gen ? gen.getTemperature().convertToDouble() : 1.0;
    };
    loop.getBody()->walk([&](Operation *op) {
      SmallVector<StringRef> models = mlir::hone::modelNamesOf(op);
      auto name = [&](unsigned i) {
        return i < models.size() && !models[i].empty() ? models[i]
                                                         : StringRef("?");
      };
      if (auto gen = dyn_cast<mlir::hone::GenerateOp>(op)) {
        add(name(0), gen.getGreedy() ? "generate (greedy)" : "generate",
            gen.getGreedy() ? 0.0 : gen.getTemperature().convertToDouble(),
            1);
      } else if (auto lp = dyn_cast<mlir::hone::LogprobOp>(op)) {
        add(name(0), "logprob", temperatureOf(lp.getTokens().front()), 1);
      } else if (auto v = dyn_cast<mlir::hone::ValueOp>(op)) {
        add(name(0), "value", 1.0, 1);
      } else if (auto ts = dyn_cast<mlir::hone::TrainStepOp>(op)) {
        // One forward per read per pass over the batch (PPO epochs); the
        // backward re-runs it (hone-differentiate's recomputation).
        for (auto [i, reader] : llvm::enumerate(ts.getReaders()))
          add(name(reader), "train", temperatureOf(ts.getTokens()[i]),
              static_cast<int64_t>(ts.getEpochs()));
      }
    });
    if (counts.empty())
      return;
    std::string text = "forward passes per iteration:";
    for (const Count &c : counts)
      text += llvm::formatv(" {0} x{1} {2} (T={3});", c.model, c.n, c.kind,
                            c.temperature)
                  .str();
    text.pop_back();
    loop.emitRemark() << text;
  }
};

} // namespace

void registerForwardReportPass() { PassRegistration<ForwardReportPass>(); }
