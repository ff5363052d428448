-- Every response is checked: a status other than BENCH_STATUS, or a body
-- without BENCH_EXPECT, counts as bad, and any bad response voids the run.
-- The request comes from the environment: BENCH_METHOD, BENCH_BODY,
-- BENCH_AUTH (an Authorization header value), BENCH_CONTENT_TYPE.
local threads = {}
local expect = os.getenv("BENCH_EXPECT") or ""
local want_status = tonumber(os.getenv("BENCH_STATUS") or "200")

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/x-www-form-urlencoded"
end
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

function response(status, headers, body)
  if status ~= want_status or not string.find(body, expect, 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do
    b = b + t:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"socket_errors":%d,"bad_responses":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, b,
    latency:percentile(50), latency:percentile(99)))
end
