-- Refresh-token rotation under load. Each refresh token is single-use, so the
-- script keeps a pool of live chains (one per signed-in grant, from
-- BENCH_TOKENS_FILE): a request takes a token out, its response puts the
-- rotated one back. At the end the pool is written back for the next run.
-- Every response must be 200 with a new id_token and refresh token.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local file = os.getenv("BENCH_TOKENS_FILE")
local headers = {
  ["Authorization"] = os.getenv("BENCH_AUTH"),
  ["Content-Type"] = "application/x-www-form-urlencoded",
}

function init(args)
  bad = 0
  flows = 0
  pool = read_lines(file)
end

function request()
  local token = table.remove(pool)
  if token == nil then
    token = "the-pool-ran-dry"
  end
  return wrk.format("POST", "/token", headers, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  local rotated = string.match(body, '"refresh_token":"([^"]+)"')
  if status ~= 200 or rotated == nil or not string.find(body, '"id_token"', 1, true) then
    bad = bad + 1
    return
  end
  table.insert(pool, rotated)
end

function done(summary, latency, requests)
  save_pool(file)
  report(summary, latency)
end
