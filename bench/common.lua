-- Shared by the wrk scripts (loaded with dofile): gathers each thread's
-- counts and prints one BENCH_RESULT line of JSON for bench/run. A script
-- sets the globals `bad` (responses that failed their check) and `flows`
-- (whole flows completed, for multi-request workloads) in init().
threads = {}

-- The non-empty lines of a file (a pool of tokens).
function read_lines(file)
  local lines = {}
  for line in io.lines(file) do
    if line ~= "" then
      table.insert(lines, line)
    end
  end
  return lines
end

-- Writes every thread's `pool` back to `file`, one item a line: what a
-- single-use pool has left for the next run.
function save_pool(file)
  local f = assert(io.open(file, "w"))
  for _, t in ipairs(threads) do
    for _, item in ipairs(t:get("pool")) do
      f:write(item, "\n")
    end
  end
  f:close()
end

function setup(thread)
  table.insert(threads, thread)
end

function sum_of(name)
  local n = 0
  for _, t in ipairs(threads) do
    n = n + (t:get(name) or 0)
  end
  return n
end

function report(summary, latency)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"socket_errors":%d,"bad_responses":%d,"flows":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, sum_of("bad"), sum_of("flows"),
    latency:percentile(50), latency:percentile(99)))
end

function done(summary, latency, requests)
  report(summary, latency)
end
