//===- Pipeline.cpp - convert-hone-to-runtime: main() ----------------------===//
//
// A hone.pipeline as main(): hone_rt_begin with the configuration and the
// lane plan, the stages' ops in order, hone_rt_end (passes/lower/Lowering.h).
//
//===----------------------------------------------------------------------===//

#include "passes/lower/Lowering.h"

using namespace mlir;
using namespace mlir::hone;

namespace mlir::hone::lower {

namespace {
/// Whether a reward asks an external process (itself or through a sum).
bool asksProcess(Value reward) {
  Operation *def = reward.getDefiningOp();
  if (isa_and_nonnull<RewardExternalOp>(def))
    return true;
  if (auto combine = dyn_cast_or_null<RewardCombineOp>(def))
    return llvm::any_of(combine.getInputs(), asksProcess);
  return false;
}
} // namespace

/// Lanes pay whatever the core count where a score waits for an external
/// process (a verifier service, a sandbox) while other work can run: rows
/// scored as they finish (hone-stream-scores) or a rollout generated ahead
/// of its learning step (hone-pipeline-rollouts). The waiting leaves cores
/// idle; `--lanes auto` turns lanes on for such a program even with fewer
/// than 4 hardware threads (bench/RESULTS.md, "Streaming scores"). So does
/// any rollout generated ahead (staleness > 0): decoding a batch leaves
/// part of 2 cores idle that the learning step beside it takes (a pipelined
/// GRPO stage 1.5x lanes on over off on 2 cores, compute only;
/// bench/RESULTS.md, "Rollout/learn overlap").
bool Lowering::lanesPay(PipelineOp pipeline) {
  bool pay = false;
  pipeline.walk([&](ScoreOp score) {
    if ((score->hasAttr("stream") || score->hasAttr("hone.ahead")) &&
        asksProcess(score.getReward()))
      pay = true;
  });
  pipeline.walk([&](GenerateOp gen) {
    if (gen->hasAttr("hone.ahead"))
      pay = true;
  });
  return pay;
}

/// One step of each stage loop as hone-assign-lanes planned it:
/// {"stages": [{"stage", "ops": [{"op", "lane", "after": [i...]}]}]}, the
/// loop body's step ops in program order with their lane ("host": after
/// every lane drained) and the ops of other lanes whose events they wait
/// for (indices into "ops"). A pipelined stage's steady loop is its step.
/// Empty when no loop has lane work.
std::string Lowering::lanePlanJson(PipelineOp pipeline) {
  std::string out;
  llvm::raw_string_ostream os(out);
  bool any = false;
  for (Operation &top : pipeline.getBody().front()) {
    auto loop = dyn_cast<scf::ForOp>(top);
    auto begin = loop ? loop.getLowerBound().getDefiningOp<ExecStageBeginOp>()
                      : ExecStageBeginOp();
    if (!begin)
      continue;
    llvm::StringMap<int> lastOnLane;
    llvm::DenseMap<int64_t, int> signalled;
    llvm::StringMap<SmallVector<int>> waits;
    std::string ops;
    int n = 0;
    for (Operation &op : loop.getBody()->without_terminator()) {
      if (auto sig = dyn_cast<ExecSignalOp>(op)) {
        auto it = lastOnLane.find(sig.getLane());
        if (it != lastOnLane.end())
          signalled[sig.getEvent()] = it->second;
        continue;
      }
      if (auto w = dyn_cast<ExecWaitOp>(op)) {
        if (auto it = signalled.find(w.getEvent()); it != signalled.end())
          waits[w.getLane()].push_back(it->second);
        continue;
      }
      auto lane = op.getAttrOfType<StringAttr>("hone.lane");
      if (!lane)
        continue;
      SmallVector<int> after = waits.lookup(lane.getValue());
      waits.erase(lane.getValue());
      ops += (n ? "," : "");
      ops += "{\"op\":\"" + op.getName().getStringRef().drop_front(5).str() +
             "\",\"lane\":\"" + lane.getValue().str() + "\",\"after\":[";
      for (auto [i, a] : llvm::enumerate(after))
        ops += (i ? "," : "") + std::to_string(a);
      ops += "]}";
      lastOnLane[lane.getValue()] = n++;
    }
    if (!n)
      continue;
    std::string name;
    for (char c : begin.getName()) {
      if (c == '"' || c == '\\')
        name += '\\';
      if (uint8_t(c) >= 0x20)
        name += c;
    }
    os << (any ? "," : "{\"stages\":[") << "{\"stage\":\"" << name
       << "\",\"ops\":[" << ops << "]}";
    any = true;
  }
  if (any)
    os << "]}";
  return out;
}

/// Loads scalar results back from their slots and replaces the op's
/// scalar results with them.
void Lowering::loadScalars(OpBuilder &b, Location loc, ValueRange results,
                           ArrayRef<Value> slots) {
  unsigned k = 0;
  for (Value r : results) {
    Type t = r.getType();
    if (isa<RankedTensorType>(t) || isObject(t) || !t.isIntOrIndexOrFloat())
      continue;
    Value slot = slots[k++];
    Value v;
    if (t.isInteger(1)) {
      Value byte = LLVM::LoadOp::create(b, loc, i8, slot);
      v = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, byte,
                                arith::ConstantIntOp::create(b, loc, i8, 0));
    } else if (t.isIndex()) {
      v = arith::IndexCastOp::create(
          b, loc, t, LLVM::LoadOp::create(b, loc, i64, slot));
    } else {
      v = LLVM::LoadOp::create(b, loc, t, slot);
    }
    r.replaceAllUsesWith(v);
  }
}

/// An object operand: lowered objects are pointers, and no tensor is.
bool Lowering::isObjectValue(Value v) {
  return isObject(v.getType()) || isa<LLVM::LLVMPointerType>(v.getType());
}

LogicalResult Lowering::lowerPipeline(PipelineOp pipeline) {
  Location loc = pipeline.getLoc();
  // Text of the IR as it reaches the runtime (before this lowering).
  std::string irText;
  {
    llvm::raw_string_ostream os(irText);
    module.print(os);
  }
  std::string specText;
  if (auto s = pipeline->getAttrOfType<StringAttr>("hone.spec_text"))
    specText = s.getValue().str();
  auto arenaBytes = pipeline->getAttrOfType<IntegerAttr>("hone.arena_bytes");
  if (!arenaBytes)
    return pipeline.emitOpError(
        "convert-hone-to-runtime: no hone.arena_bytes (run hone-plan-arena "
        "or hone-scheduled-pipeline first)");

  // Ops that are not lowered yet, before anything changes.
  WalkResult check = pipeline.getBody().walk<WalkOrder::PreOrder>(
      [&](Operation *op) {
    if (isa<TrainStepOp>(op))
      return WalkResult::skip();
    StringRef dialect = op->getName().getDialectNamespace();
    bool ok = false;
    if (dialect == "hone")
      ok = lowersThroughAbiTable(op->getName().getStringRef()) ||
           isa<ExecStepEndOp, ExecStageEndOp, ExecSignalOp, ExecWaitOp,
               ExecSyncOp>(op);
    else if (isa<scf::ForOp, scf::IfOp, scf::YieldOp>(op))
      ok = true;
    else if (dialect == "arith")
      ok = llvm::none_of(op->getResultTypes(),
                         llvm::IsaPred<ShapedType>);
    if (!ok) {
      op->emitOpError("cannot be lowered to runtime calls yet "
                      "(convert-hone-to-runtime handles step-level hone "
                      "ops, hone.exec.*, scf.for/scf.if and scalar arith)");
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (check.wasInterrupted())
    return failure();

  // The arena is allocated by the runtime (hone_rt_arena): a static one
  // past 2 GiB overflowed the code model at link time.
  if (arenaBytes.getInt() > (int64_t(1) << 40))
    return pipeline.emitOpError("convert-hone-to-runtime: the step buffers "
                                "need ")
           << arenaBytes.getInt()
           << " bytes, more than 1 TiB; lower the batch size or the "
              "sequence lengths";

  // The job's run settings (dialect/HoneSettings.td `#hone.run`); the
  // runtime has no defaults for them.
  RunAttr run = pipeline.getRunAttr();
  if (!run)
    return pipeline.emitOpError("convert-hone-to-runtime: the pipeline "
                                "has no run settings (#hone.run)")
           << "; compile it from a spec, or add run = #hone.run<...> "
              "(docs/dialect.md)";

  // main(argc, argv).
  OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
  auto mainType = mb.getFunctionType({i32, ptr}, {i32});
  auto main = func::FuncOp::create(mb, loc, "main", mainType);
  Block *entryBlock = main.addEntryBlock();
  Block *body = new Block();
  Block *help = new Block();
  main.getBody().push_back(help);
  main.getBody().push_back(body);
  OpBuilder b = OpBuilder::atBlockEnd(entryBlock);
  // Stack slots go before everything else in the entry block.
  entry.setInsertionPoint(LLVM::ZeroOp::create(b, loc, ptr));
  std::string config = toJson(run);
  // Forwards, backwards, generated tokens and FLOPs per stage iteration
  // and model, before fusion and as compiled (dialect/HoneForwards.h):
  // the job's report shows them.
  config.pop_back(); // the closing brace of the run settings' object
  config += ",\"model_work\":" + workReportJson(pipeline) + "}";
  // The memory plan (hone-plan-memory) travels with the run settings: the
  // job checks its measured peak against it.
  if (auto plan =
          pipeline->getAttrOfType<DictionaryAttr>("hone.memory_plan")) {
    config.pop_back(); // the closing brace of the run settings' object
    config += ",\"memory_plan\":" + toJson(plan) + "}";
  }
  if (lanesPay(pipeline)) {
    config.pop_back();
    config += ",\"lanes_pay\":true}";
  }
  // The lane plan (hone-assign-lanes): the job draws it next to the
  // measured schedule.
  if (std::string plan = lanePlanJson(pipeline); !plan.empty()) {
    config.pop_back();
    config += ",\"lane_plan\":" + plan + "}";
  }
  // The runtime decodes the configuration by runtime/abi/settings.inl's
  // rows (#hone.run and what is added above): checked here as written.
  if (std::string bad = checkSettingsJson(abi::SettingsId::run, config);
      !bad.empty()) {
    pipeline->emitOpError("convert-hone-to-runtime: the run configuration "
                          "disagrees with runtime/abi/settings.inl: ")
        << bad;
    return failure();
  }
  job = LLVM::CallOp::create(
            b, loc, rtBegin(),
            ValueRange{constI32(b, loc, kAbiVersion),
                       entryBlock->getArgument(0), entryBlock->getArgument(1),
                       str(b, loc, pipeline.getSymName()),
                       str(b, loc, config), str(b, loc, specText),
                       str(b, loc, irText)})
            .getResult();
  Value isNull = LLVM::ICmpOp::create(b, loc, LLVM::ICmpPredicate::eq, job,
                                      LLVM::ZeroOp::create(b, loc, ptr));
  LLVM::CondBrOp::create(b, loc, isNull, help, body);
  {
    OpBuilder hb = OpBuilder::atBlockEnd(help);
    func::ReturnOp::create(hb, loc,
                           ValueRange{arith::ConstantIntOp::create(hb, loc, i32, 0)});
  }
  body->getOperations().splice(body->end(),
                               pipeline.getBody().front().getOperations());
  b.setInsertionPointToEnd(body);
  Value rc = LLVM::CallOp::create(b, loc, rtEnd(), ValueRange{job})
                 .getResult();
  func::ReturnOp::create(b, loc, rc);

  b.setInsertionPointToStart(body);
  arena = LLVM::CallOp::create(
              b, loc, rtArena(),
              ValueRange{job, constI64(b, loc, std::max<int64_t>(
                                                   arenaBytes.getInt(), 1))})
              .getResult();

  // The spec names of each stage's models (its loop's model iteration
  // arguments), read before object types are lowered.
  main.walk([&](ExecStageBeginOp begin) {
    SmallVector<Attribute> names;
    for (Operation *user : begin.getFirst().getUsers())
      if (auto loop = dyn_cast<scf::ForOp>(user))
        for (BlockArgument arg : loop.getRegionIterArgs())
          if (isa<ModelType>(arg.getType()))
            names.push_back(StringAttr::get(ctx, modelName(arg)));
    stageModelNames[begin] = ArrayAttr::get(ctx, names);
  });
  // Object-typed values: remember them, then make them pointers.
  main.walk([&](Operation *op) {
    for (Value r : op->getResults())
      if (isObject(r.getType())) {
        originalObject.insert(r);
        if (isa<ModelType>(r.getType()))
          originalModel.insert(r);
      }
    for (Region &region : op->getRegions())
      for (Block &blk : region)
        for (BlockArgument a : blk.getArguments())
          if (isObject(a.getType())) {
            originalObject.insert(a);
            if (isa<ModelType>(a.getType()))
              originalModel.insert(a);
          }
  });
  main.walk([&](Operation *op) {
    if (isa<scf::ForOp, scf::IfOp>(op)) {
      for (Value r : op->getResults())
        if (isObject(r.getType()))
          r.setType(ptr);
      for (Region &region : op->getRegions())
        for (Block &blk : region)
          for (BlockArgument a : blk.getArguments())
            if (isObject(a.getType()))
              a.setType(ptr);
    }
  });

  // The temperature of each log-prob read: that of the hone.generate
  // that sampled its tokens (the only place a temperature lives,
  // dialect/HoneStepOps.td), 1 for data. Read before any op is lowered.
  main.walk([&](Operation *op) {
    SmallVector<Value> tokens;
    if (auto lp = dyn_cast<LogprobOp>(op))
      llvm::append_range(tokens, lp.getTokens());
    else if (auto ts = dyn_cast<TrainStepOp>(op))
      llvm::append_range(tokens, ts.getTokens());
    else
      return WalkResult::advance();
    std::optional<double> t;
    for (Value tok : tokens)
      if (GenerateOp gen = producingGenerate(tok)) {
        double g = gen.getTemperature().convertToDouble();
        if (t && *t != g) {
          op->emitOpError("reads tokens sampled at temperatures ")
              << *t << " and " << g << "; one step takes log-probs at one";
          failedTemperature = true;
        }
        t = g;
      }
    temperature[op] = t.value_or(1.0);
    return WalkResult::advance();
  });
  if (failedTemperature)
    return failure();

  // Loops that carry rollouts (hone-pipeline-rollouts): tensor iteration
  // arguments become fixed slots in the arena.
  SmallVector<scf::ForOp> carrying;
  main.walk([&](scf::ForOp loop) {
    if (llvm::any_of(loop.getResultTypes(), llvm::IsaPred<RankedTensorType>))
      carrying.push_back(loop);
  });
  for (scf::ForOp loop : carrying)
    if (failed(lowerCarriedTensors(loop)))
      return failure();

  SmallVector<Operation *> ops;
  main.walk<WalkOrder::PreOrder>([&](Operation *op) {
    if (isa<TrainStepOp>(op)) {
      ops.push_back(op);
      return WalkResult::skip();
    }
    if (op->getDialect() && op->getDialect()->getNamespace() == "hone")
      ops.push_back(op);
    return WalkResult::advance();
  });
  for (Operation *op : ops) {
    LogicalResult r = success();
    if (auto end = dyn_cast<ExecStepEndOp>(op)) {
      OpBuilder sb(op);
      LLVM::CallOp::create(
          sb, op->getLoc(), rtStepEnd(),
          ValueRange{job, arith::IndexCastOp::create(sb, op->getLoc(), i64,
                                                     end.getStep())});
      toErase.push_back(op);
    } else if (isa<ExecSignalOp, ExecWaitOp>(op)) {
      OpBuilder sb(op);
      bool signal = isa<ExecSignalOp>(op);
      auto lane = op->getAttrOfType<StringAttr>("lane");
      auto event = op->getAttrOfType<IntegerAttr>("event");
      LLVM::CallOp::create(
          sb, op->getLoc(), rtEvent(),
          ValueRange{job, str(sb, op->getLoc(), lane.getValue()),
                     constI32(sb, op->getLoc(), signal ? 0 : 1),
                     constI64(sb, op->getLoc(), event.getInt())});
      toErase.push_back(op);
    } else if (isa<ExecSyncOp>(op)) {
      OpBuilder sb(op);
      LLVM::CallOp::create(sb, op->getLoc(), rtSync(), ValueRange{job});
      toErase.push_back(op);
    } else if (isa<ExecStageEndOp>(op)) {
      OpBuilder sb(op);
      LLVM::CallOp::create(sb, op->getLoc(), rtStageEnd(), ValueRange{job});
      toErase.push_back(op);
    } else if (const abi::OpRow *row = rowOf(op)) {
      auto step = dyn_cast<TrainStepOp>(op);
      auto begin = dyn_cast<ExecStageBeginOp>(op);
      if ((row->call == abi::Call::Train) != bool(step) ||
          (row->call == abi::Call::Stage) != bool(begin))
        r = op->emitOpError("convert-hone-to-runtime: the runtime table's "
                            "call kind for this op is not the one its "
                            "lowering makes");
      else if (step)
        r = lowerTrainStep(step, *row);
      else if (begin)
        r = lowerStageBegin(begin, *row);
      else if (row->call == abi::Call::Object)
        r = lowerObject(op, *row);
      else
        r = lowerStep(op, *row);
    } else {
      r = failure();
    }
    if (failed(r))
      return failure();
  }
  // Tensor values were keys of tensorData until here.
  for (Operation *op : llvm::reverse(toErase)) {
    op->dropAllUses();
    op->erase();
  }
  // Attributes of the scheduled level have served their purpose.
  main.walk([](Operation *op) {
    op->removeAttr("hone.offsets");
    op->removeAttr("hone.arena_top");
  });
  pipeline.erase();
  return success();
}

} // namespace mlir::hone::lower
