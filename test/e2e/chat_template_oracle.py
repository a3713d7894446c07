#!/usr/bin/env python3
"""Hone's Jinja renderer against Python: every template of
test/chat_templates on a corpus of conversations (system/user/assistant/tool
turns, multi-turn, unicode, tool calls, reasoning, tools present and absent,
add_generation_prompt on and off, template kwargs, continue_final_message)
is rendered by
`hone-inspect --render-chat` and by transformers' render_jinja_template (the
jinja2 environment apply_chat_template uses: trim_blocks, lstrip_blocks,
loop controls, raise_exception, strftime_now, tojson without HTML escaping,
{% generation %} tracking). The texts must be equal byte for byte, errors
must agree (both raise or neither), and for templates with {% generation %}
the assistant spans must be equal. Without transformers, plain jinja2 with
the same settings is the oracle; without either, the test skips (exit 77).
Usage: chat_template_oracle.py HONE_INSPECT TEMPLATE_DIR WORK"""
import datetime, json, os, shutil, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle_python import use_oracle_python  # noqa: E402

use_oracle_python("transformers")  # else plain jinja2, below
inspect, tdir, work = map(os.path.abspath, sys.argv[1:4])
try:
    import jinja2  # noqa: F401
except ImportError:
    print("SKIP: python jinja2 is not installed")
    sys.exit(77)

NOW = 1722000000  # 2024-07-26T13:20:00Z, the fixed clock of both renders
SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

try:
    from transformers.utils import chat_template_utils as ctu
    oracle = "transformers"
except Exception:  # an older or absent transformers: plain jinja2
    ctu = None
    oracle = "jinja2"


def fixed_strftime(fmt):
    return datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc).strftime(fmt)


def py_render(template, req):
    kwargs = dict(SPECIAL)
    kwargs.update(req.get("kwargs", {}))
    if ctu is not None:
        compiled = ctu._compile_jinja_template(template)
        compiled.globals["strftime_now"] = fixed_strftime
        text, gen = ctu.render_jinja_template(
            conversations=[req["messages"]], tools=req.get("tools"),
            chat_template=template, add_generation_prompt=req.get("agp", False),
            continue_final_message=req.get("continue", False),
            return_assistant_tokens_mask=True, **kwargs)
        return text[0], [list(g) for g in gen[0]]
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    import jinja2.ext
    import jinja2.nodes

    class Generation(jinja2.ext.Extension):
        # {% generation %} ... {% endgeneration %}: the body, untracked.
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return jinja2.nodes.Scope(body).set_lineno(lineno)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols, Generation])
    def raise_exception(m):
        raise jinja2.exceptions.TemplateError(m)
    env.filters["tojson"] = lambda x, ensure_ascii=False, indent=None, separators=None, sort_keys=False: json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = fixed_strftime
    t = env.from_string(template)
    return t.render(messages=req["messages"], tools=req.get("tools"), documents=None,
                    add_generation_prompt=req.get("agp", False), **kwargs), None


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city, «today» — ünïcode",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["c", "f"]},
        "days": {"type": "integer"}, "items": {"type": "number"}},
        "required": ["city"]}}}
CALC = {"type": "function", "function": {"name": "add", "description": "Add",
        "parameters": {"type": "object", "properties": {
            "a": {"type": "number"}, "b": {"type": "number"}}}}}
CALL = {"type": "function", "function": {"name": "get_weather",
        "arguments": {"city": "Zürich", "days": 2, "ratio": 0.5, "ok": True, "none": None}}}


def conversations():
    S = {"role": "system", "content": "You are terse.\n  Answer in English."}
    U = lambda c: {"role": "user", "content": c}
    A = lambda c: {"role": "assistant", "content": c}
    yield "single", [U("What is 2+2?"), A("4")]
    yield "system", [S, U("Hi"), A("Hello! How can I help?")]
    yield "multi", [S, U("a"), A("b"), U("c"), A("d"), U("e")]
    yield "unicode", [U("Grüße, 世界 🌍 — \"quotes\" and 'apostrophes' \\ back"), A("«ok» ✓\ttab\nnewline")]
    yield "whitespace", [U("  padded  \n"), A("\n  lead and trail  \n\n")]
    yield "empty", [U(""), A("")]
    yield "prompt-only", [U("Tell me a joke")]
    yield "think", [U("2+2?"), A("<think>\nadd them\n</think>\n\n4"), U("times 3?"), A("<think>12</think>12")]
    yield "reasoning-field", [U("2+2?"), {"role": "assistant", "content": "4", "reasoning_content": "easy"}]
    yield "tool-call", [S, U("Weather in Zürich?"),
                        {"role": "assistant", "content": "", "tool_calls": [CALL]},
                        {"role": "tool", "content": "{\"temp\": 21}"},
                        {"role": "tool", "content": "sunny"},
                        A("21 °C and sunny.")]
    yield "tool-call-text", [U("Weather?"), {"role": "assistant", "content": "Checking.", "tool_calls": [CALL]},
                             {"role": "tool", "content": "rain"}, A("Rain.")]
    yield "alternation-broken", [U("a"), U("b")]
    yield "tool-first", [{"role": "tool", "content": "x"}, U("y")]


def requests():
    for name, msgs in conversations():
        for agp in (False, True):
            yield f"{name}/agp={int(agp)}", {"messages": msgs, "agp": agp}
            yield f"{name}/agp={int(agp)}/tools", {"messages": msgs, "agp": agp, "tools": [WEATHER, CALC]}
        yield f"{name}/nothink", {"messages": msgs, "agp": True, "kwargs": {"enable_thinking": False}}
        if ctu is not None and msgs[-1]["role"] == "assistant":
            # continue_final_message (transformers only: jinja2 has no such mode)
            yield f"{name}/continue", {"messages": msgs, "continue": True}
            yield f"{name}/continue/tools", {"messages": msgs, "continue": True,
                                             "tools": [WEATHER, CALC]}
        yield f"{name}/date", {"messages": msgs, "agp": True, "kwargs": {"date_string": "01 Jan 2026"}}


def byte_spans(text, spans):
    return [[len(text[:b].encode()), len(text[:e].encode())] for b, e in spans]


shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures, cases, errors_agreed = [], 0, 0
for fname in sorted(os.listdir(tdir)):
    if not fname.endswith(".jinja"):
        continue
    template = open(os.path.join(tdir, fname), encoding="utf-8").read()
    has_gen = "{% generation" in template or "{%- generation" in template
    for rname, req in requests():
        cases += 1
        try:
            want, want_gen = py_render(template, req)
            want_err = None
        except Exception as e:  # the template raised, or jinja2 did
            want, want_gen, want_err = None, None, f"{type(e).__name__}: {e}"
        rq = dict(req)
        rq["special"] = SPECIAL
        rq["now"] = NOW
        path = os.path.join(work, "req.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(rq, f, ensure_ascii=False)
        p = subprocess.run([inspect, "--render-chat", os.path.join(tdir, fname), "--request", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        where = f"{fname} {rname}"
        if p.returncode not in (0, 1) or (p.returncode == 1 and not p.stderr.strip()):
            failures.append(f"{where}: hone-inspect exited {p.returncode}: {p.stderr.decode()[-300:]}")
            continue
        if p.returncode == 1:
            if want_err is None:
                failures.append(f"{where}: Hone failed ({p.stderr.decode().strip()}) where {oracle} rendered")
            else:
                errors_agreed += 1
            continue
        got = json.loads(p.stdout)
        if want_err is not None:
            failures.append(f"{where}: Hone rendered where {oracle} raised {want_err}")
            continue
        if got["text"] != want:
            i = next((k for k in range(min(len(want), len(got["text"]))) if want[k] != got["text"][k]),
                     min(len(want), len(got["text"])))
            failures.append(f"{where}: text differs at char {i}: hone {got['text'][i-20:i+40]!r} vs "
                            f"{oracle} {want[i-20:i+40]!r}")
            continue
        # (transformers refuses assistant masks with continue_final_message)
        if has_gen and want_gen is not None and not req.get("continue") and got["spans"] != byte_spans(want, [g for g in want_gen if g[1] > g[0]]):
            failures.append(f"{where}: generation spans {got['spans']} vs {byte_spans(want, want_gen)}")
shutil.rmtree(work)
print(f"{cases} renders compared with {oracle} ({errors_agreed} raised in both)")
for f in failures[:40]:
    print("FAIL:", f)
if failures:
    sys.exit(f"FAIL: {len(failures)} of {cases} renders differ")
print("PASS")
