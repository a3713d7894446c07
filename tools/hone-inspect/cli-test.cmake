# Runs hone-inspect on hostile files: each must exit 1 with a located error.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

function(expect_failure name regex)
  execute_process(COMMAND ${TOOL} ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 1)
    message(FATAL_ERROR "${name}: expected exit code 1, got '${rc}'\n${out}${err}")
  endif()
  if(NOT err MATCHES "${regex}")
    message(FATAL_ERROR "${name}: stderr does not match '${regex}':\n${err}")
  endif()
  message(STATUS "${name}: ok: ${err}")
endfunction()

function(expect_success name regex)
  execute_process(COMMAND ${TOOL} ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "${regex}")
    message(FATAL_ERROR "${name}: expected success matching '${regex}', got rc ${rc}:\n${out}${err}")
  endif()
endfunction()

# Binary files are written with printf (CMake strings cannot hold NUL).
function(write_binary path fmt)
  execute_process(COMMAND sh -c "printf '${fmt}' > '${path}'" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cannot write ${path}")
  endif()
endfunction()

# A header size of ~1 TiB.
write_binary(${WORK}/huge-header.safetensors "\\377\\377\\377\\377\\377\\000\\000\\000{}")
expect_failure(huge_header "huge-header.safetensors:@0: error: header size [0-9]+ is larger" ${WORK}/huge-header.safetensors)

file(WRITE ${WORK}/tiny.safetensors "abc")
expect_failure(truncated "tiny.safetensors:@0: error: file is 3 bytes" ${WORK}/tiny.safetensors)

# Offsets past the end of the data: a 64-byte header, then 4 bytes of data.
set(hdr "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}")
string(LENGTH "${hdr}" n)
math(EXPR pad "64 - ${n}")
string(REPEAT " " ${pad} spaces)
write_binary(${WORK}/short-data.safetensors "\\100\\000\\000\\000\\000\\000\\000\\000${hdr}${spaces}abcd")
expect_failure(short_data "short-data.safetensors:@[0-9]+: error: tensor 'w': data_offsets end 8 is past the end" ${WORK}/short-data.safetensors)

file(WRITE ${WORK}/bad.jsonl "{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"text\": oops}\n")
expect_failure(bad_jsonl "bad.jsonl:3:10: error: " --dataset ${WORK}/bad.jsonl)

file(WRITE ${WORK}/mixed.jsonl "{\"prompt\": \"a\", \"completion\": \"b\"}\n\n{\"prompt\": \"a\", \"completion\": 7}\n")
expect_failure(wrong_type "mixed.jsonl:3:31: error: 'completion' is a number" --dataset ${WORK}/mixed.jsonl)

file(WRITE ${WORK}/tok.json "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}")
expect_failure(tokenizer_merge "tok.json:1:[0-9]+: error: merge 0 uses 'b'" --tokenizer ${WORK}/tok.json --encode hi)

file(WRITE ${WORK}/notok.json "{\"model\": {\"type\": \"BPE\"}}")
expect_failure(tokenizer_missing "notok.json:1:[0-9]+: error: model has no \"vocab\"" --tokenizer ${WORK}/notok.json --encode hi)

expect_success(dataset_ok "layout prompt_completion" --dataset ${WORK}/mixed.jsonl --max-records 1)
expect_success(chars_ok "3 tokens: 0,1,2" --chars "abc" --encode "abc")

# A model directory whose tensors do not match its config.json.
file(MAKE_DIRECTORY ${WORK}/model)
file(WRITE ${WORK}/model/config.json "{\"model_type\": \"llama\", \"vocab_size\": 4, \"hidden_size\": 2, \"num_hidden_layers\": 1, \"num_attention_heads\": 1, \"intermediate_size\": 2, \"max_position_embeddings\": 8}")
set(hdr "{\"model.embed_tokens.weight\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[0,48]}}")
string(LENGTH "${hdr}" n)
math(EXPR pad "128 - ${n}")
string(REPEAT " " ${pad} spaces)
string(REPEAT "a" 48 payload)
write_binary(${WORK}/model/model.safetensors "\\200\\000\\000\\000\\000\\000\\000\\000${hdr}${spaces}${payload}")
expect_failure(layout_mismatch "model.safetensors: error: tensor 'model.embed_tokens.weight' has shape \\[4, 3\\], config.json implies \\[4, 2\\]" ${WORK}/model)

# Sizes past the limits (layers near 2^62, intermediate_size 2^40) used to
# pass and abort with std::bad_alloc; each is a located error now, and so is
# a product of in-range sizes too large to train.
file(WRITE ${WORK}/huge-layers.json "{\"model_type\": \"llama\", \"vocab_size\": 4, \"hidden_size\": 2,\n \"num_hidden_layers\": 4611686018427387904, \"num_attention_heads\": 1, \"intermediate_size\": 2, \"max_position_embeddings\": 8}")
expect_failure(huge_layers "huge-layers.json:2:23: error: 'num_hidden_layers' is 4611686018427387904, more than the largest model size Hone accepts \\(4096\\)" --config ${WORK}/huge-layers.json)
file(WRITE ${WORK}/huge-ffn.json "{\"model_type\": \"gpt2\", \"vocab_size\": 4, \"n_embd\": 2, \"n_layer\": 1, \"n_head\": 1, \"n_positions\": 8, \"n_inner\": 1099511627776}")
expect_failure(huge_ffn "huge-ffn.json:1:[0-9]+: error: 'n_inner' is 1099511627776" --config ${WORK}/huge-ffn.json)
file(WRITE ${WORK}/huge-product.json "{\"model_type\": \"llama\", \"vocab_size\": 16777216, \"hidden_size\": 65536, \"num_hidden_layers\": 4096, \"num_attention_heads\": 64, \"intermediate_size\": 1048576, \"max_position_embeddings\": 8}")
expect_failure(huge_product "huge-product.json: error: the model has about [0-9]+ parameters, more than the 68719476736 Hone can train" --config ${WORK}/huge-product.json)

# --max-records -1 read as 2^64-1, and a device read forever (/dev/zero).
expect_failure(max_records_negative "--max-records: '-1' is not a positive integer" --dataset ${WORK}/mixed.jsonl --max-records -1)
expect_failure(max_records_overflow "--max-records: '99999999999999999999999' is not a positive integer" --dataset ${WORK}/mixed.jsonl --max-records 99999999999999999999999)
expect_failure(dataset_device "/dev/zero: error: is a device, expected a .jsonl file" --dataset /dev/zero --max-records 1)
file(REMOVE_RECURSE ${WORK})
