-- The whole code flow under load, as a browser and a client run it: POST
-- /signin (an argon2id verification) → 303 to /authorize with a new session
-- cookie → 302 to the redirect URI with a code → POST /token (PKCE) → an
-- id_token. The steps of many flows interleave over the connections through a
-- queue of next steps; `flows` counts completed ones. Any other answer is bad.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local form = "application/x-www-form-urlencoded"
local cookie = os.getenv("BENCH_COOKIE")
local signin_body = os.getenv("BENCH_SIGNIN_BODY")
local redirect_uri = os.getenv("BENCH_REDIRECT_URI")
local token_tail = "&redirect_uri=" .. os.getenv("BENCH_REDIRECT_URI_ENCODED")
  .. "&code_verifier=" .. os.getenv("BENCH_VERIFIER")
local client_auth = os.getenv("BENCH_AUTH")
-- Lanyard lets one sign-in per account be in flight: flows rotate over
-- bench-user-0 … bench-user-(BENCH_USERS - 1), more accounts than connections.
local users = tonumber(os.getenv("BENCH_USERS") or "1")

function init(args)
  bad = 0
  flows = 0
  pending = {}
  next_user = 0
end

function request()
  local step = table.remove(pending, 1)
  if step == nil then
    local body = string.gsub(signin_body, "USERNAME", "bench-user-" .. next_user)
    next_user = (next_user + 1) % users
    return wrk.format("POST", "/signin", { ["Content-Type"] = form, ["Cookie"] = cookie }, body)
  elseif step.code == nil then
    return wrk.format("GET", step.path, { ["Cookie"] = cookie .. "; " .. step.session })
  end
  return wrk.format("POST", "/token", { ["Authorization"] = client_auth, ["Content-Type"] = form },
    "grant_type=authorization_code&code=" .. step.code .. token_tail)
end

local function header(headers, name)
  return headers[name] or headers[string.lower(name)]
end

function response(status, headers, body)
  local location = header(headers, "Location") or ""
  if status == 303 and string.sub(location, 1, 10) == "/authorize" then
    -- wrk keeps one Set-Cookie per response, the last: Lanyard sets the
    -- session cookie last.
    local session = string.match(header(headers, "Set-Cookie") or "", "^([^;]+)")
    if session == nil then
      bad = bad + 1
      return
    end
    table.insert(pending, { path = location, session = session })
  elseif (status == 302 or status == 303) and string.find(location, redirect_uri, 1, true) == 1 then
    local code = string.match(location, "[?&]code=([^&]+)")
    if code == nil then
      bad = bad + 1
      return
    end
    table.insert(pending, { code = code })
  elseif status == 200 and string.find(body, '"id_token"', 1, true) then
    flows = flows + 1
  else
    bad = bad + 1
  end
end
