#!/usr/bin/env python3
"""Chat data as TRL users have it (issue 19): records with `tools` (a list
or a JSON string), assistant `tool_calls` (content null), `tool` turns,
`reasoning_content`, per-record `chat_template_kwargs`, the spec's
`chat_template_kwargs`, and prompts that end with the assistant's message
(continue_final_message). The job's token sequences (`hone-inspect
--sequences`, runtime/data/Sequences.cpp, the code the job and the
compiler use) must equal transformers' apply_chat_template with TRL's
arguments (tools, kwargs, add_generation_prompt / continue_final_message by
the prompt's last role; trl.data_utils.apply_chat_template's text too where
TRL is installed), ids and assistant masks; without transformers that part
skips. Bad input is a located error (exit 1) from hone-inspect and honec,
and a short SFT run trains on such data.
Usage: chat_template_data.py HONEC HONE_INSPECT TEMPLATES WORK"""
import json, os, shutil, subprocess, sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle_python import use_oracle_python  # noqa: E402

use_oracle_python("transformers")
honec, inspect, tdir, work = map(os.path.abspath, sys.argv[1:5])
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

chars = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
         " .,;:!?+-*/=<>|_()[]{}'\"\n#@&%$^~`\\")
specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>",
            "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]


def tokenizer_dir(name, template_file):
    d = os.path.join(work, name)
    os.makedirs(d)
    vocab = {t: i for i, t in enumerate(specials)}
    for c in chars:
        vocab.setdefault(c, len(vocab))
    added = [{"id": i, "content": t, "special": True, "single_word": False,
              "lstrip": False, "rstrip": False, "normalized": False}
             for i, t in enumerate(specials)]
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump({"version": "1.0", "truncation": None, "padding": None,
                   "added_tokens": added, "normalizer": None,
                   "pre_tokenizer": None, "post_processor": None, "decoder": None,
                   "model": {"type": "BPE", "vocab": vocab, "merges": [],
                             "dropout": None, "unk_token": None,
                             "continuing_subword_prefix": None,
                             "end_of_word_suffix": None, "fuse_unk": False}}, f)
    cfg = {"chat_template": open(os.path.join(tdir, template_file)).read(),
           "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
           "bos_token": None, "tokenizer_class": "PreTrainedTokenizerFast",
           "model_max_length": 4096}
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f)
    return d


qwen3 = tokenizer_dir("qwen3", "qwen3.jinja")
training = tokenizer_dir("training", "qwen3-training.jinja")

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"]}}}
CALL = {"type": "function", "function": {"name": "get_weather",
        "arguments": {"city": "Paris", "days": 2}}}
U = lambda c: {"role": "user", "content": c}
A = lambda c: {"role": "assistant", "content": c}

chats = [
    {"messages": [U("Weather in Paris?"),
                  {"role": "assistant", "content": None, "tool_calls": [CALL]},
                  {"role": "tool", "content": "{\"temp\": 21}", "tool_call_id": "c1",
                   "name": "get_weather"},
                  A("21 C.")],
     "tools": [WEATHER]},
    {"messages": [U("Weather?"),
                  {"role": "assistant", "content": "Checking.", "tool_calls": [CALL]},
                  {"role": "tool", "content": "rain"}, A("Rain.")],
     "tools": json.dumps([WEATHER])},  # TRL also reads tools as a JSON string
    {"messages": [U("2+2?"), {"role": "assistant", "content": "4",
                              "reasoning_content": "add them"}],
     "chat_template_kwargs": {"enable_thinking": True}},
    {"messages": [{"role": "system", "content": "Be terse."}, U("Hi"), A("Hello."),
                  U("Bye"), A("Bye.")], "tools": []},
]
prompts = [
    {"prompt": [U("Weather in Paris?")], "tools": [WEATHER]},
    {"prompt": [U("Count to three."), A("One, two")]},  # continued
    {"prompt": [U("2+2?")], "chat_template_kwargs": {"enable_thinking": True}},
    {"prompt": [{"role": "system", "content": "Use tools."}, U("Weather?"),
                {"role": "assistant", "content": "", "tool_calls": [CALL]},
                {"role": "tool", "content": "sunny"}], "tools": [WEATHER]},
]


def write(name, rows):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


chats_path = write("chats.jsonl", chats)
prompts_path = write("prompts.jsonl", prompts)


def run(cmd):
    return subprocess.run(cmd, cwd=work, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)


def sequences(tokdir, data, kwargs=None, chat="from_model"):
    cmd = [inspect, "--tokenizer", os.path.join(tokdir, "tokenizer.json"),
           "--dataset", data, "--sequences", "--chat", chat]
    if kwargs is not None:
        cmd += ["--kwargs", json.dumps(kwargs)]
    return run(cmd)


def rows_of(p, what):
    if p.returncode != 0:
        sys.exit(f"FAIL: hone-inspect --sequences ({what}) exited {p.returncode}:\n{p.stdout}")
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


try:
    from transformers import AutoTokenizer
except Exception:
    AutoTokenizer = None
try:
    from trl.data_utils import apply_chat_template as trl_apply
except Exception:
    trl_apply = None

compared = 0
if AutoTokenizer is None:
    print("SKIP part: transformers is not installed (no oracle for the ids)")
else:
    for spec_kwargs in (None, {"enable_thinking": False}):
        for tokdir in (qwen3, training):
            hf = AutoTokenizer.from_pretrained(tokdir)
            got = rows_of(sequences(tokdir, chats_path, spec_kwargs), "chats")
            gen = tokdir == training  # {% generation %}: compare masks too
            for rec, g in zip(chats, got):
                tools = rec.get("tools")
                tools = json.loads(tools) if isinstance(tools, str) else tools
                kw = dict(spec_kwargs or {})
                kw.update(rec.get("chat_template_kwargs", {}))
                out = hf.apply_chat_template(rec["messages"], tools=tools or None,
                                             tokenize=True, return_dict=True,
                                             return_assistant_tokens_mask=gen, **kw)
                ids = list(out["input_ids"])
                if g["ids"] != ids:
                    sys.exit(f"FAIL: {os.path.basename(tokdir)} {spec_kwargs} line {g['line']}: "
                             f"ids differ from transformers\nhone {hf.decode(g['ids'])!r}\n"
                             f"hf   {hf.decode(ids)!r}")
                if gen and g["mask"][1:] != list(out["assistant_masks"])[1:]:
                    sys.exit(f"FAIL: line {g['line']}: assistant mask differs\n"
                             f"{g['mask']}\n{list(out['assistant_masks'])}")
                compared += 1
            got = rows_of(sequences(tokdir, prompts_path, spec_kwargs), "prompts")
            for rec, g in zip(prompts, got):
                kw = dict(spec_kwargs or {})
                kw.update(rec.get("chat_template_kwargs", {}))
                # TRL's rule (trl/data_utils.py apply_chat_template).
                cont = rec["prompt"][-1]["role"] == "assistant"
                out = hf.apply_chat_template(rec["prompt"], tools=rec.get("tools") or None,
                                             add_generation_prompt=not cont,
                                             continue_final_message=cont,
                                             tokenize=True, return_dict=True, **kw)
                ids = list(out["input_ids"])
                if g["prompt"] != ids:
                    sys.exit(f"FAIL: {os.path.basename(tokdir)} {spec_kwargs} prompt line "
                             f"{g['line']}: ids differ\nhone {hf.decode(g['prompt'])!r}\n"
                             f"hf   {hf.decode(ids)!r}")
                if trl_apply is not None:
                    # (TRL refuses a name in both the record's and the
                    # trainer's kwargs; Hone lets the record's win: merged)
                    text = trl_apply({"prompt": rec["prompt"]}, hf, tools=rec.get("tools"),
                                     **kw)["prompt"]
                    if list(hf(text, add_special_tokens=False)["input_ids"]) != g["prompt"]:
                        sys.exit(f"FAIL: prompt line {g['line']}: TRL renders {text!r}, "
                                 f"hone {hf.decode(g['prompt'])!r}")
                compared += 1
    print(f"{compared} records equal to transformers' apply_chat_template"
          + (" and TRL's prompts" if trl_apply else ""))


def expect_error(p, *needles, what=""):
    if p.returncode != 1 or not all(n in p.stdout for n in needles):
        sys.exit(f"FAIL: {what}: expected exit 1 with {needles}, got {p.returncode}:\n{p.stdout}")
    # one error line (honec adds the source line, a caret and the hint)
    if len(p.stdout.strip().splitlines()) > 4 or p.stdout.count("error:") != 1:
        sys.exit(f"FAIL: {what}: the error is not short:\n{p.stdout}")


# Named templates cannot render tools, tool calls or reasoning.
expect_error(sequences(qwen3, chats_path, chat="chatml"), "record on line 1", "tools",
             "from_model", what="tools with chatml")
only_calls = write("calls.jsonl", [{"messages": chats[0]["messages"]}])
expect_error(sequences(qwen3, only_calls, chat="chatml"), "record on line 1", "no content",
             what="tool calls with chatml")
expect_error(sequences(qwen3, chats_path, chat="chatml", kwargs={"enable_thinking": False}),
             "chat_template_kwargs", what="kwargs with chatml")
# Hostile records, located at the value.
for rows, needle in [
        ([{"messages": [U("a"), A("b")], "tools": 3}], "chats.bad.jsonl:1:"),
        ([{"messages": [U("a"), A("b")], "tools": "[oops"}], "not JSON"),
        ([{"messages": [U("a"), A("b")], "tools": [1]}], "a tool in 'tools'"),
        ([{"messages": [U("a"), A("b")], "chat_template_kwargs": "x"}], "'chat_template_kwargs' is a string"),
        ([{"messages": [U("a"), {"role": "assistant", "content": None}]}], "needs a string 'content'"),
        ([{"messages": [U("a"), {"role": "assistant", "content": "", "tool_calls": {"x": 1}}]}],
         "'tool_calls' is an object"),
        ([{"messages": [U("a"), {"role": "assistant", "content": "", "tool_calls": [2]}]}],
         "a tool call is a number"),
        ([{"text": "plain", "tools": [WEATHER]}], "not a conversation")]:
    bad = write("chats.bad.jsonl", rows)
    expect_error(sequences(qwen3, bad), needle, what=f"hostile record {rows}")
# A final message the template drops cannot be continued.
drop = tokenizer_dir("drop", "qwen3.jinja")
cfg = json.load(open(os.path.join(drop, "tokenizer_config.json")))
cfg["chat_template"] = ("{% for m in messages %}<|im_start|>{{ m.role }}\n"
                        "{% if m.role != 'assistant' %}{{ m.content }}{% endif %}"
                        "<|im_end|>\n{% endfor %}")
json.dump(cfg, open(os.path.join(drop, "tokenizer_config.json"), "w"))
expect_error(sequences(drop, write("cont.jsonl", [prompts[1]])), "record on line 1",
             "continue_final_message", what="continuing a dropped message")

# The spec: chat_template_kwargs in the IR, located errors, a short SFT run.
spec = """name: "chat-data"
tokenizer { file: "qwen3/tokenizer.json" %s }
models {
  name: "policy"
  init { family: gpt2 d_model: 32 layers: 1 heads: 2 max_seq_len: 512 }
}
datasets { name: "chats" path: "chats.jsonl" }
optimizer { lr: 1e-3 }
stages {
  dataset: "chats"
  sft { loop { steps: 2 batch_size: 2 } }
}
"""


def compile_spec(tok_extra, *args):
    with open(os.path.join(work, "spec.textproto"), "w") as f:
        f.write(spec % tok_extra)
    return run([honec, "spec.textproto"] + list(args))


p = compile_spec("chat_template_kwargs: '{\"enable_thinking\": false}'", "--compile-to=stage")
if p.returncode != 0 or 'chat_template_kwargs = "{\\22enable_thinking\\22: false}"' not in p.stdout:
    sys.exit(f"FAIL: the spec's chat_template_kwargs are not in the IR:\n{p.stdout[:3000]}")
expect_error(compile_spec("chat_template_kwargs: '{oops'"), "spec.textproto:2:",
             "'chat_template_kwargs' is not JSON", what="bad kwargs JSON")
expect_error(compile_spec("chat_template_kwargs: '[1]'"), "spec.textproto:2:",
             "expected a JSON object", what="kwargs not an object")
expect_error(compile_spec("chat_template: chatml chat_template_kwargs: '{\"a\": 1}'"),
             "spec.textproto:2:", "model's own template", what="kwargs with chatml")
expect_error(compile_spec("chat_template: chatml"), "spec.textproto:", "chats.jsonl",
             "record on line 1", "tools", what="tools data with chatml at compile time")
p = compile_spec("chat_template_kwargs: '{\"enable_thinking\": false}'", "-o", "job")
if p.returncode != 0:
    sys.exit(f"FAIL: honec exited {p.returncode}:\n{p.stdout}")
p = run([os.path.join(work, "job"), "--device", "cpu", "--progress", "off",
         "--out", os.path.join(work, "run")])
if p.returncode != 0:
    sys.exit(f"FAIL: the job exited {p.returncode}:\n{p.stdout[-3000:]}")
rows = [json.loads(l) for l in open(os.path.join(work, "run", "metrics.jsonl"))]
if not any(r.get("step") == 2 and "loss" in r for r in rows):
    sys.exit("FAIL: no loss row for step 2 in metrics.jsonl")
shutil.rmtree(work)
print("PASS")
