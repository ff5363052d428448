-- A token request with a DPoP proof (RFC 9449) — client_credentials or an
-- exchange, as BENCH_BODY says: each proof is single-use
-- (its jti is accepted once), so the script takes proofs from a pool made
-- by bench/run just before the workload (BENCH_PROOFS_FILE) and writes what
-- is left back for the measured run. Every response must be 200 and a
-- DPoP-bound token.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local file = os.getenv("BENCH_PROOFS_FILE")
local body = os.getenv("BENCH_BODY")
local auth = os.getenv("BENCH_AUTH")

function init(args)
  bad = 0
  flows = 0
  pool = read_lines(file)
end

function request()
  local proof = table.remove(pool) or "the-pool-ran-dry"
  return wrk.format("POST", "/token", {
    ["Authorization"] = auth,
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["DPoP"] = proof,
  }, body)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"token_type":"DPoP"', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  save_pool(file)
  report(summary, latency)
end
