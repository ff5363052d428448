-- Soak: a service's client_credentials token, then an introspection of that
-- token by the same service (RFC 7662): it must be active. `flows` counts
-- introspections.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local headers = {
  ["Authorization"] = os.getenv("BENCH_AUTH"),
  ["Content-Type"] = "application/x-www-form-urlencoded",
}
local token_body = os.getenv("BENCH_BODY")

function init(args)
  bad = 0
  flows = 0
  tokens = {}
end

function request()
  local token = table.remove(tokens, 1)
  if token ~= nil then
    return wrk.format("POST", "/introspect", headers, "token=" .. token)
  end
  return wrk.format("POST", "/token", headers, token_body)
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    return
  end
  local token = string.match(body, '"access_token":"([^"]+)"')
  if token then
    table.insert(tokens, token)
  elseif string.find(body, '"active":true', 1, true) then
    flows = flows + 1
  else
    bad = bad + 1
  end
end
