-- Soak: refresh then exchange. A request takes a refresh token from the pool
-- (live offline grants, BENCH_TOKENS_FILE) and refreshes it; its response
-- puts the rotated token back and queues an RFC 8693 exchange of the new
-- id_token for an API token — an id_token a refresh issued stands for its
-- grant even once the sign-in session is over. `flows` counts exchanges.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local file = os.getenv("BENCH_TOKENS_FILE")
local resource = os.getenv("BENCH_RESOURCE")
local headers = {
  ["Authorization"] = os.getenv("BENCH_AUTH"),
  ["Content-Type"] = "application/x-www-form-urlencoded",
}

function init(args)
  bad = 0
  flows = 0
  pool = read_lines(file)
  exchanges = {}
end

function request()
  local id_token = table.remove(exchanges, 1)
  if id_token ~= nil then
    return wrk.format("POST", "/token", headers,
      "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
      .. "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token"
      .. "&scope=read&resource=" .. resource .. "&subject_token=" .. id_token)
  end
  local token = table.remove(pool, 1) or "the-pool-ran-dry"
  return wrk.format("POST", "/token", headers, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    return
  end
  local rotated = string.match(body, '"refresh_token":"([^"]+)"')
  local id_token = string.match(body, '"id_token":"([^"]+)"')
  if rotated and id_token then
    table.insert(pool, rotated)
    table.insert(exchanges, id_token)
  elseif string.find(body, '"issued_token_type"', 1, true) then
    flows = flows + 1
  else
    bad = bad + 1
  end
end
