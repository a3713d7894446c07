//===- Calls.cpp - convert-hone-to-runtime: one call per op ----------------===//
//
// Object, step, train-step and stage ops as calls of the C ABI, each with its
// attributes as the JSON that runtime/abi/step_ops.inl lists
// (passes/lower/Lowering.h).
//
//===----------------------------------------------------------------------===//

#include "passes/lower/Lowering.h"

using namespace mlir;
using namespace mlir::hone;

namespace mlir::hone::lower {

/// The op's attributes as JSON, exactly as its row of
/// runtime/abi/step_ops.inl lists them: ODS attributes from the op's
/// inherent attributes, DISC ones from its discardable attributes, LOWER
/// ones from `lowered` (and "lane" from hone.lane). A required attribute
/// that is missing, one of the wrong kind, or an attribute of the op that
/// the row does not list is an error at the op.
FailureOr<std::string>
Lowering::attrsJson(Operation *op, const abi::OpRow &row,
                    ArrayRef<std::pair<StringRef, Attribute>> lowered) {
  StringRef opName = op->getName().getStringRef();
  auto table = [&]() { return op->emitOpError("convert-hone-to-runtime: "); };
  llvm::StringMap<Attribute> fromLowering;
  for (auto &[k, v] : lowered)
    fromLowering[k] = v;
  if (row.call == abi::Call::Step || row.call == abi::Call::Train)
    if (Attribute lane = op->getAttr("hone.lane"))
      fromLowering["lane"] = lane;
  if (row.call == abi::Call::Step)
    if (Attribute ahead = op->getAttr("hone.ahead"))
      fromLowering["ahead"] = ahead;
  for (auto &e : fromLowering) {
    const abi::AttrRow *a = abi::findAttr(row, e.getKey());
    if (!a || a->from != abi::From::Lowering)
      return table() << "the lowering adds attribute '" << e.getKey()
                     << "', which runtime/abi/step_ops.inl does not list "
                        "for "
                     << opName << " as LOWER";
  }
  SmallVector<std::pair<StringRef, Attribute>> out;
  auto emit = [&](const abi::AttrRow &a) -> LogicalResult {
    Attribute v;
    switch (a.from) {
    case abi::From::Ods: {
      std::optional<Attribute> inherent = op->getInherentAttr(a.name);
      if (!inherent)
        return table() << "runtime/abi/step_ops.inl lists '" << a.name
                       << "' as an ODS attribute of " << opName
                       << ", which declares no such attribute";
      v = *inherent;
      if (!v && a.kind == abi::Kind::Unit)
        v = BoolAttr::get(ctx, false);
      break;
    }
    case abi::From::Discardable:
      v = op->getDiscardableAttr(a.name);
      break;
    case abi::From::Lowering:
      v = fromLowering.lookup(a.name);
      break;
    }
    if (!v) {
      if (a.need == abi::Need::Required)
        return table() << "missing attribute '" << a.name
                       << "', which the runtime requires of " << opName
                       << " (runtime/abi/step_ops.inl)";
      return success();
    }
    if (!abiKindMatches(v, a.kind))
      return table() << "attribute '" << a.name << "' is " << v
                     << ", but the runtime reads " << opName << "'s '"
                     << a.name << "' as " << abi::kindName(a.kind)
                     << " (runtime/abi/step_ops.inl)";
    if (a.kind == abi::Kind::Obj)
      if (const abi::SettingsRow *r = settingsRowOf(v))
        if (std::string bad = checkSettingsJson(r->id, toJson(v));
            !bad.empty())
          return table() << "attribute '" << a.name << "' (" << r->attr
                         << "): " << bad << " (runtime/abi/settings.inl)";
    out.push_back({a.name, v});
    return success();
  };
  for (const abi::AttrRow &a : abi::kAttrs)
    if (a.op == row.id && failed(emit(a)))
      return failure();
  if (row.call == abi::Call::Step || row.call == abi::Call::Train)
    if (failed(emit(abi::kLaneAttr)))
      return failure();
  if (row.call == abi::Call::Step)
    if (failed(emit(abi::kAheadAttr)))
      return failure();
  for (NamedAttribute a : op->getAttrDictionary()) {
    StringRef n = a.getName().getValue();
    if (n.starts_with("hone.") || n == "operandSegmentSizes" ||
        n == "resultSegmentSizes")
      continue;
    if (!abi::findAttr(row, n))
      return table() << "attribute '" << n << "' of " << opName
                     << " has no entry in the runtime table "
                        "(runtime/abi/step_ops.inl): add it there and "
                        "read it in the runtime, or drop it";
  }
  // The op's own attributes in name order (as its dictionary holds
  // them), then the lowering's in row order, then the lane.
  SmallVector<std::pair<StringRef, Attribute>> own, added;
  for (auto &e : out) {
    const abi::AttrRow *a = abi::findAttr(row, e.first);
    (a->from == abi::From::Lowering ? added : own).push_back(e);
  }
  llvm::stable_sort(own, [](auto &x, auto &y) { return x.first < y.first; });
  std::stable_partition(added.begin(), added.end(), [](auto &x) {
    return x.first != "lane" && x.first != "ahead";
  });
  own.append(added.begin(), added.end());
  return toJson(DictionaryAttr(), own);
}

/// The op's row of the runtime table; an error at the op if it has none.
const abi::OpRow *Lowering::rowOf(Operation *op) {
  StringRef name = op->getName().getStringRef();
  const abi::OpRow *row = abi::findOp(name.drop_front(5));
  if (!row)
    op->emitOpError("convert-hone-to-runtime: ")
        << name << " has no row in the runtime table "
                   "(runtime/abi/step_ops.inl), so the runtime cannot run it";
  return row;
}

LogicalResult Lowering::lowerObject(Operation *op, const abi::OpRow &row) {
  OpBuilder b(op);
  Location loc = op->getLoc();
  SmallVector<std::pair<StringRef, Attribute>> extra;
  if (op->getNumResults() == 1)
    if (auto model = dyn_cast<ModelType>(op->getResult(0).getType())) {
      extra.push_back({"arch", model.getArch()});
      extra.push_back({"head", b.getStringAttr(::hone::keywordOf(
                                   ::hone::kHeadKinds, model.getHead()))});
    }
  // A buffer's capacity lives in its type.
  if (op->getNumResults() == 1)
    if (auto buffer = dyn_cast<BufferType>(op->getResult(0).getType()))
      extra.push_back(
          {"capacity", b.getI64IntegerAttr(buffer.getCapacity())});
  // So does a dataset's column layout (the job imposes it, as the
  // compiler's data check did).
  if (op->getNumResults() == 1)
    if (auto data = dyn_cast<DatasetType>(op->getResult(0).getType()))
      extra.push_back(
          {"layout", b.getStringAttr(stringifyEnum(data.getLayout()))});
  if (op->getNumResults() != 1 || !isObject(op->getResult(0).getType()))
    return op->emitOpError(
        "convert-hone-to-runtime: an object op yields one object");
  std::string name = op->getName().getStringRef().drop_front(5).str();
  FailureOr<std::string> json = attrsJson(op, row, extra);
  if (failed(json))
    return failure();
  Value objs = pointerArray(b, loc, op->getOperands());
  Value handle =
      LLVM::CallOp::create(
          b, loc, rtObject(),
          ValueRange{job, str(b, loc, locString(loc)), str(b, loc, name),
                     str(b, loc, *json),
                     constI32(b, loc, op->getNumOperands()), objs})
          .getResult();
  op->getResult(0).replaceAllUsesWith(handle);
  toErase.push_back(op);
  return success();
}

/// Object results of a step op name the object operand they update.
LogicalResult Lowering::forwardObjects(Operation *op, ValueRange results,
                                       ValueRange objects) {
  for (Value r : results) {
    if (!isObject(r.getType()))
      continue;
    auto it = llvm::find_if(objects, [&](Value o) {
      return o.getType() == r.getType() ||
             isa<LLVM::LLVMPointerType>(o.getType());
    });
    if (it == objects.end())
      return op->emitOpError("convert-hone-to-runtime: result ")
             << r.getType() << " updates no object operand";
    r.replaceAllUsesWith(*it);
  }
  return success();
}

/// The LOWER attributes of a model read: hone.logprob's temperature (see
/// the walk before lowering) and, of hone.logprob and hone.value, whether
/// the read is packed (hone-pack-sequences' masks: the inputs after the
/// tokens).
SmallVector<std::pair<StringRef, Attribute>>
Lowering::readAttrs(OpBuilder &b, Operation *op) {
  if (auto lp = dyn_cast<LogprobOp>(op))
    return {{"temperature", b.getF64FloatAttr(temperature.lookup(op))},
            {"packed", b.getBoolAttr(!lp.getPackMasks().empty())}};
  if (auto v = dyn_cast<ValueOp>(op))
    return {{"packed", b.getBoolAttr(bool(v.getPackMask()))}};
  return {};
}

LogicalResult Lowering::lowerStep(Operation *op, const abi::OpRow &row) {
  OpBuilder b(op);
  Location loc = op->getLoc();
  SmallVector<Value> objs, in, out;
  for (Value v : op->getOperands())
    (isObjectValue(v) ? objs : in).push_back(v);
  for (Value r : op->getResults())
    if (!isObject(r.getType()))
      out.push_back(r);
  if (failed(bindResults(b, op)))
    return failure();
  SmallVector<Value> outSlots;
  auto inDesc = descriptors(b, loc, op, in, false);
  auto outDesc = descriptors(b, loc, op, out, true, &outSlots);
  if (failed(inDesc) || failed(outDesc))
    return failure();
  std::string name = op->getName().getStringRef().drop_front(5).str();
  FailureOr<std::string> json = attrsJson(op, row, readAttrs(b, op));
  if (failed(json))
    return failure();
  LLVM::CallOp::create(
      b, loc, rtStep(),
      ValueRange{job, str(b, loc, locString(loc)), str(b, loc, name),
                 str(b, loc, *json), constI32(b, loc, objs.size()),
                 pointerArray(b, loc, objs), constI32(b, loc, in.size()),
                 *inDesc, constI32(b, loc, out.size()), *outDesc});
  finishResults(b, loc, op, outSlots);
  if (failed(forwardObjects(op, op->getResults(), objs)))
    return failure();
  toErase.push_back(op);
  return success();
}

void Lowering::finishResults(OpBuilder &b, Location loc, Operation *op,
                             ArrayRef<Value> outSlots) {
  loadScalars(b, loc, op->getResults(), outSlots);
  // Tensor results are used only through their buffers from here on.
}

LogicalResult Lowering::lowerTrainStep(TrainStepOp step,
                                       const abi::OpRow &row) {
  Operation *op = step;
  OpBuilder b(op);
  Location loc = op->getLoc();
  if (!step.getKernel())
    return step.emitOpError("convert-hone-to-runtime: no kernel name");
  std::string packedName = (*step.getKernel() + "_packed").str();
  auto packed = module.lookupSymbol<LLVM::LLVMFuncOp>(packedName);
  if (!packed)
    return step.emitOpError("convert-hone-to-runtime: no packed kernel @")
           << packedName << " (run hone-build-loss-kernels first)";
  SmallVector<Value> models(step.getModels());
  SmallVector<Value> in(step.getTokens());
  llvm::append_range(in, step.getInputs());
  SmallVector<Value> out;
  for (Value r : op->getResults())
    if (!isObject(r.getType()))
      out.push_back(r);
  // The names of the objective's metrics (none without an objective).
  Attribute metricNames = ArrayAttr::get(ctx, {});
  if (!step.getObjective().empty())
    if (auto yield = dyn_cast<LossYieldOp>(
            step.getObjective().front().getTerminator()))
      metricNames = yield.getMetricNames();
  FailureOr<std::string> json = attrsJson(
      op, row,
      {{"metric_names", metricNames},
       {"temperature", b.getF64FloatAttr(temperature.lookup(op))}});
  if (failed(json))
    return failure();
  if (failed(bindResults(b, op)))
    return failure();
  SmallVector<Value> outSlots;
  auto inDesc = descriptors(b, loc, op, in, false);
  auto outDesc = descriptors(b, loc, op, out, true, &outSlots);
  if (failed(inDesc) || failed(outDesc))
    return failure();
  Value kernel = LLVM::AddressOfOp::create(b, loc, packed);
  LLVM::CallOp::create(
      b, loc, rtTrainStep(),
      ValueRange{job, str(b, loc, locString(loc)), str(b, loc, *json),
                 constI32(b, loc, models.size()),
                 pointerArray(b, loc, models), kernel,
                 constI32(b, loc, step.getTokens().size()),
                 constI32(b, loc, in.size()), *inDesc,
                 constI32(b, loc, out.size()), *outDesc});
  finishResults(b, loc, op, outSlots);
  // Training is in place: the new model states are the old handles.
  unsigned m = 0;
  for (Value r : op->getResults())
    if (isObject(r.getType()))
      r.replaceAllUsesWith(models[m++]);
  toErase.push_back(op);
  return success();
}

LogicalResult Lowering::lowerStageBegin(ExecStageBeginOp begin,
                                        const abi::OpRow &row) {
  OpBuilder b(begin);
  Location loc = begin.getLoc();
  // The stage's models: the loop's object iter_args that are models.
  SmallVector<Value> models;
  OptimizerAttr optimizer;
  for (Operation *user : begin.getFirst().getUsers())
    if (auto loop = dyn_cast<scf::ForOp>(user)) {
      for (auto [init, arg] :
           llvm::zip(loop.getInitArgs(), loop.getRegionIterArgs()))
        if (originalModel.contains(arg))
          models.push_back(init);
      loop.walk([&](TrainStepOp step) {
        if (!optimizer)
          optimizer = step.getOptimizer();
      });
    }
  SmallVector<std::pair<StringRef, Attribute>> extra;
  if (optimizer)
    extra.push_back({"optimizer", optimizer});
  // The run's record: the stage's models by spec name and its effective
  // settings (hone-expand-stages keeps them on the stage loop).
  if (ArrayAttr names = stageModelNames.lookup(begin))
    extra.push_back({"models", names});
  for (Operation *user : begin.getFirst().getUsers())
    if (auto loop = dyn_cast<scf::ForOp>(user))
      if (Attribute s = loop->getAttr("hone.stage_settings")) {
        extra.push_back({"settings", s});
        break;
      }
  FailureOr<std::string> json = attrsJson(begin, row, extra);
  if (failed(json))
    return failure();
  Value first =
      LLVM::CallOp::create(
          b, loc, rtStageBegin(),
          ValueRange{job, str(b, loc, locString(loc)),
                     str(b, loc, begin.getName()),
                     constI64(b, loc, begin.getSteps()),
                     str(b, loc, *json),
                     constI32(b, loc, models.size()),
                     pointerArray(b, loc, models)})
          .getResult();
  begin.getFirst().replaceAllUsesWith(
      arith::IndexCastOp::create(b, loc, b.getIndexType(), first));
  toErase.push_back(begin);
  return success();
}

} // namespace mlir::hone::lower
