#include "runtime/job/Rewards.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace hone::job {

// --- verifiers -------------------------------------------------------------

std::string normalizeAnswer(std::string_view s, bool keepCase) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space)
      out += ' ';
    space = false;
    out += keepCase ? c : char(std::tolower(static_cast<unsigned char>(c)));
  }
  auto unwrap = [&](const std::string &pre, const std::string &post) {
    if (out.size() >= pre.size() + post.size() &&
        out.compare(0, pre.size(), pre) == 0 &&
        out.compare(out.size() - post.size(), post.size(), post) == 0)
      out = out.substr(pre.size(), out.size() - pre.size() - post.size());
  };
  unwrap("\\boxed{", "}");
  size_t h = out.rfind("####");
  if (h != std::string::npos) {
    out = out.substr(h + 4);
    while (!out.empty() && out[0] == ' ')
      out.erase(0, 1);
  }
  if (!out.empty() && out.back() == '.')
    out.pop_back();
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

double exactMatchReward(std::string_view completion, std::string_view answer) {
  return normalizeAnswer(completion) == normalizeAnswer(answer) ? 1.0 : 0.0;
}

std::optional<double> lastNumber(std::string_view t) {
  std::optional<double> last;
  size_t i = 0;
  while (i < t.size()) {
    if (!std::isdigit(static_cast<unsigned char>(t[i]))) {
      ++i;
      continue;
    }
    size_t start = i;
    bool neg = start > 0 && t[start - 1] == '-';
    std::string digits;
    while (i < t.size() &&
           (std::isdigit(static_cast<unsigned char>(t[i])) ||
            (t[i] == ',' && i + 1 < t.size() &&
             std::isdigit(static_cast<unsigned char>(t[i + 1]))))) {
      if (t[i] != ',')
        digits += t[i];
      ++i;
    }
    if (i + 1 < t.size() && t[i] == '.' &&
        std::isdigit(static_cast<unsigned char>(t[i + 1]))) {
      digits += '.';
      ++i;
      while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])))
        digits += t[i++];
    }
    double v = std::strtod(digits.c_str(), nullptr);
    last = neg ? -v : v;
  }
  return last;
}

double numericMatchReward(std::string_view completion, std::string_view answer,
                          double absTol, double relTol) {
  auto x = lastNumber(completion), y = lastNumber(answer);
  if (!x || !y)
    return 0.0;
  return std::fabs(*x - *y) <= absTol + relTol * std::fabs(*y) ? 1.0 : 0.0;
}

double overlongPenalty(int64_t len, int64_t lMax, int64_t lCache) {
  int64_t soft = lMax - lCache;
  if (len <= soft)
    return 0.0;
  if (len <= lMax)
    return lCache > 0 ? double(soft - len) / double(lCache) : -1.0;
  return -1.0;
}

Expected<RegexReward> RegexReward::compile(const std::string &pattern,
                                           bool fullMatch) {
  size_t off = 0;
  auto re = Regex::compile(pattern, /*jit=*/false, &off);
  if (!re)
    return Status::error("error: reward regex '" + pattern + "' at offset " +
                         std::to_string(off) + ": " + re.status().message());
  RegexReward r;
  r.re_ = re.take();
  r.full_ = fullMatch;
  return r;
}

double RegexReward::operator()(std::string_view text) const {
  auto m = re_->find(text, 0, full_);
  return m.isOk() && m->has_value() ? 1.0 : 0.0;
}

std::optional<std::string> RegexReward::capture(std::string_view text) const {
  auto m = re_->find(text, 0, full_);
  if (!m.isOk() || !m->has_value())
    return std::nullopt;
  const Regex::Match &r = **m;
  return std::string(text.substr(r.groupBegin, r.groupEnd - r.groupBegin));
}

Expected<Verifier> Verifier::create(const VerifierConfig &cfg) {
  Verifier v;
  v.cfg_ = cfg;
  if (!cfg.extract.empty()) {
    auto r = RegexReward::compile(cfg.extract, false);
    if (!r)
      return r.status();
    v.extract_ = r.take();
  }
  if (cfg.kind == VerifierConfig::Kind::Regex ||
      cfg.kind == VerifierConfig::Kind::Format) {
    auto r = RegexReward::compile(cfg.pattern,
                                  cfg.kind == VerifierConfig::Kind::Format);
    if (!r)
      return r.status();
    v.re_ = r.take();
  }
  return v;
}

double Verifier::score(const RewardInput &in) const {
  auto pick = [&](bool ok) { return ok ? cfg_.onTrue : cfg_.onFalse; };
  std::string text = in.completion;
  if (extract_) {
    auto got = extract_->capture(text);
    if (!got)
      return cfg_.onFalse;
    text = *got;
  }
  switch (cfg_.kind) {
  case VerifierConfig::Kind::ExactMatch: {
    if (cfg_.strip)
      return pick(normalizeAnswer(text, cfg_.caseSensitive) ==
                  normalizeAnswer(in.answer, cfg_.caseSensitive));
    std::string a = text, b = in.answer;
    if (!cfg_.caseSensitive)
      for (std::string *s : {&a, &b})
        for (char &ch : *s)
          ch = char(std::tolower(static_cast<unsigned char>(ch)));
    return pick(a == b);
  }
  case VerifierConfig::Kind::NumericMatch:
    return pick(numericMatchReward(text, in.answer, cfg_.absTol,
                                   cfg_.relTol) > 0);
  case VerifierConfig::Kind::Regex:
  case VerifierConfig::Kind::Format:
    return pick((*re_)(in.completion) > 0);
  }
  return 0.0;
}

// --- reward model ----------------------------------------------------------

Expected<std::vector<float>> rewardModelScores(Transformer<float> &rm,
                                               const TokenBatch &batch,
                                               int64_t microBatch,
                                               bool pack) {
  if (rm.config().head != HeadKind::Scalar)
    return Status::error("error: reward model: the model has an LM head, "
                         "not a scalar head");
  if (microBatch <= 0)
    microBatch = batch.batch;
  std::vector<float> out;
  for (int64_t b0 = 0; b0 < batch.batch; b0 += microBatch) {
    int64_t n = std::min(microBatch, batch.batch - b0);
    TokenBatch mb{n, batch.seqLen, batch.tokens + b0 * batch.seqLen,
                  batch.lengths + b0};
    ForwardOptions fo;
    fo.pack = pack;
    HONE_TRY(rm.forward(mb, fo));
    std::vector<float> r = rm.toHost(rm.rewards(), n);
    out.insert(out.end(), r.begin(), r.end());
  }
  return out;
}

// --- external process ------------------------------------------------------

Expected<std::unique_ptr<ExternalReward>>
ExternalReward::start(const std::vector<std::string> &argv, int timeoutMs,
                      int workers) {
  if (argv.empty())
    return Status::error("error: reward process: empty command");
  if (workers < 1 || workers > 1024)
    return Status::error("error: reward process: workers must be in [1, "
                         "1024], got " + std::to_string(workers));
  if (workers > 1) {
    auto first = start(argv, timeoutMs, 1);
    if (!first)
      return first.status();
    for (int w = 1; w < workers; ++w) {
      auto more = start(argv, timeoutMs, 1);
      if (!more)
        return more.status(); // the copies started so far stop with `first`
      (*first)->more_.push_back(more.take());
    }
    return first;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return Status::error(std::string("error: reward process: socketpair: ") +
                         std::strerror(errno));
  // exec errors travel back over a close-on-exec pipe
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) != 0) {
    close(sv[0]);
    close(sv[1]);
    return Status::error("error: reward process: pipe failed");
  }
  std::vector<char *> args;
  for (const std::string &a : argv)
    args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    close(sv[0]);
    close(sv[1]);
    close(ep[0]);
    close(ep[1]);
    return Status::error("error: reward process: fork failed");
  }
  if (pid == 0) {
    // A process group of its own: stop() kills the program and whatever it
    // started (a timed-out scorer's children used to keep running).
    setpgid(0, 0);
    // The job blocks its stop signals on its computing threads
    // (installStopHandlers); the mask would outlive exec.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(sv[1], 0);
    dup2(sv[1], 1);
    execvp(args[0], args.data());
    int e = errno;
    ssize_t w = write(ep[1], &e, sizeof(e));
    (void)w;
    _exit(127);
  }
  setpgid(pid, pid); // also here: whichever runs first
  close(sv[1]);
  close(ep[1]);
  int e = 0;
  ssize_t n;
  do
    n = read(ep[0], &e, sizeof(e));
  while (n < 0 && errno == EINTR);
  close(ep[0]);
  if (n == sizeof(e)) {
    close(sv[0]);
    waitpid(pid, nullptr, 0);
    return Status::error("error: reward process '" + argv[0] +
                         "': cannot execute: " + std::strerror(e));
  }
  std::unique_ptr<ExternalReward> r(new ExternalReward());
  r->name_ = argv[0];
  r->pid_ = pid;
  r->fd_ = sv[0];
  r->timeoutMs_ = timeoutMs;
  return r;
}

ExternalReward::~ExternalReward() { stop(); }

void ExternalReward::stop() {
  if (fd_ >= 0)
    close(fd_);
  fd_ = -1;
  if (pid_ > 0) {
    // give it a moment to exit on EOF, then kill it; its process group
    // (what it started) goes either way
    bool exited = false;
    for (int i = 0; i < 20 && !exited; ++i) {
      exited = waitpid(pid_, nullptr, WNOHANG) == pid_;
      if (!exited)
        usleep(5000);
    }
    kill(-pid_, SIGKILL);
    if (!exited) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_ = -1;
}

std::string ExternalReward::describe() const {
  return "error: reward process '" + name_ + "'";
}

std::string ExternalReward::exitReason() {
  if (pid_ <= 0)
    return "";
  int st = 0;
  for (int i = 0; i < 20; ++i) {
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      if (WIFEXITED(st))
        return " (exited with status " + std::to_string(WEXITSTATUS(st)) + ")";
      if (WIFSIGNALED(st))
        return " (killed by signal " + std::to_string(WTERMSIG(st)) + ")";
      return "";
    }
    usleep(5000);
  }
  return "";
}

Expected<double> ExternalReward::scoreOne(const RewardInput &in) {
  if (dead_ || fd_ < 0)
    return Status::error(describe() + " is not running");
  json::Value req = json::Value::object();
  req.set("prompt", in.prompt);
  req.set("completion", in.completion);
  if (!in.answer.empty())
    req.set("answer", in.answer);
  if (in.record && in.record->isObject())
    for (const auto &[k, v] : in.record->members())
      if (k != "prompt" && k != "completion" && !req.find(k))
        req.set(k, v);
  std::string line = json::serialize(req) + "\n";
  auto fail = [&](const std::string &why) -> Status {
    dead_ = true;
    std::string msg = describe() + ": " + why;
    close(fd_);
    fd_ = -1;
    msg += exitReason();
    stop();
    return Status::error(msg);
  };
  size_t off = 0;
  while (off < line.size()) {
    ssize_t w = send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return fail("died before reading its request");
    off += size_t(w);
  }
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs_);
  for (;;) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string reply = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      if (!reply.empty() && reply.back() == '\r')
        reply.pop_back();
      auto v = json::parse(reply, {"reward process reply"});
      const json::Value *r = v ? v->find("reward") : nullptr;
      if (!v || !v->isObject() || !r || !r->isNumber()) {
        std::string shown = reply.size() > 80 ? reply.substr(0, 80) + "..."
                                              : reply;
        return fail("expected one line {\"reward\": <number>}, got '" + shown +
                    "'");
      }
      return r->asDouble();
    }
    if (buf_.size() > (size_t(1) << 20))
      return fail("reply line longer than 1 MiB");
    int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(
                       deadline - std::chrono::steady_clock::now())
                       .count());
    if (left <= 0)
      return fail("no reply within " + std::to_string(timeoutMs_) + " ms");
    pollfd p{fd_, POLLIN, 0};
    int pr = poll(&p, 1, left);
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr == 0)
      continue; // re-check the deadline
    char tmp[4096];
    ssize_t n = read(fd_, tmp, sizeof(tmp));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return fail("died without answering");
    buf_.append(tmp, size_t(n));
  }
}

Expected<std::vector<double>>
ExternalReward::score(const std::vector<RewardInput> &inputs) {
  const size_t n = inputs.size(), w = size_t(workers());
  std::vector<double> out(n, 0.0);
  // Copy k answers rows k, k + w, ...; the first failing row (in row
  // order) is the error, and a failed copy answers no further rows.
  std::vector<Status> err(n, Status::ok());
  auto run = [&](ExternalReward &p, size_t k) {
    for (size_t i = k; i < n; i += w) {
      auto r = p.scoreOne(inputs[i]);
      if (!r) {
        err[i] = r.status();
        return;
      }
      out[i] = *r;
    }
  };
  if (w == 1 || n <= 1) {
    run(*this, 0);
  } else {
    std::vector<std::thread> threads;
    for (size_t k = 1; k < w && k < n; ++k)
      threads.emplace_back(run, std::ref(*more_[k - 1]), k);
    run(*this, 0);
    for (std::thread &t : threads)
      t.join();
  }
  for (const Status &s : err)
    if (!s.isOk())
      return s;
  return out;
}

} // namespace hone::job
