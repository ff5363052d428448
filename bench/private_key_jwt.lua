-- client_credentials authenticated with private_key_jwt (RFC 7523 §2.2): each
-- client assertion is single-use (its jti is accepted once), so the script
-- takes assertions from a pool made by bench/run just before the workload
-- (BENCH_ASSERTIONS_FILE) and writes what is left back for the measured run.
-- Every response must be 200 with an access token.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local file = os.getenv("BENCH_ASSERTIONS_FILE")
local body = os.getenv("BENCH_BODY")
    .. "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion="

function init(args)
  bad = 0
  flows = 0
  pool = read_lines(file)
end

function request()
  local assertion = table.remove(pool) or "the-pool-ran-dry"
  return wrk.format("POST", "/token", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body .. assertion)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"access_token"', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  save_pool(file)
  report(summary, latency)
end
