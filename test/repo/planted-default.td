// A fixture for repo.no-ods-defaults-planted (test/CMakeLists.txt): an op
// argument with an ODS default, which cmake/CheckNoSpecDefaults.cmake must
// refuse. Never included by a build.
def Planted_Op : Hone_Op<"planted", []> {
  let arguments = (ins DefaultValuedAttr<F64Attr, "1.0">:$temperature);
}
