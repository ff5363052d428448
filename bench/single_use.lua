-- A token request carrying a single-use token — a DPoP proof (RFC 9449) in a
-- header, or a client assertion (RFC 7523 §2.2) at the end of the body —
-- each accepted once (its jti), so the script takes them from a pool made by
-- bench/run just before the workload (BENCH_POOL_FILE) and writes what is
-- left back for the measured run. BENCH_POOL_HEADER names the header the
-- token goes in; without it, the token ends BENCH_BODY. BENCH_AUTH, if set,
-- is the Authorization header. Every response must be 200 and contain
-- BENCH_EXPECT.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local file = os.getenv("BENCH_POOL_FILE")
local header = os.getenv("BENCH_POOL_HEADER")
local body = os.getenv("BENCH_BODY")
local auth = os.getenv("BENCH_AUTH")
local expect = os.getenv("BENCH_EXPECT")

function init(args)
  bad = 0
  flows = 0
  pool = read_lines(file)
end

function request()
  local token = table.remove(pool) or "the-pool-ran-dry"
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  if auth then
    headers["Authorization"] = auth
  end
  if header then
    headers[header] = token
    return wrk.format("POST", "/token", headers, body)
  end
  return wrk.format("POST", "/token", headers, body .. token)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, expect, 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  save_pool(file)
  report(summary, latency)
end
