-- Every response is checked: a status other than BENCH_STATUS, or a body
-- without BENCH_EXPECT, counts as bad, and any bad response voids the run.
-- The request comes from the environment: BENCH_METHOD, BENCH_BODY,
-- BENCH_AUTH (an Authorization header value), BENCH_CONTENT_TYPE.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
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

function init(args)
  bad = 0
  flows = 0
end

function response(status, headers, body)
  if status ~= want_status or not string.find(body, expect, 1, true) then
    bad = bad + 1
  end
end
