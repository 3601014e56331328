-- wrk script: POST /api/v1/coupons/issue with a new user on every request.
--
-- Each wrk thread takes its own slice of a file of pre-minted access tokens (one per line, made by
-- `hotdeal token --count N`), so no two requests share a user and every claim is a fresh decision.
-- When a thread runs out of tokens it starts its slice again; those repeats are answered 409
-- (already issued) and show up as non-2xx in wrk's summary, so mint enough for the run.
--
--   TOKENS=/tmp/tokens.txt CAMPAIGN=<couponInfoId> \
--     wrk -t2 -c64 -d10s -s benches/wrk/claims.lua http://127.0.0.1:8080
--
-- `benches/wrk/run.sh` does the whole thing (server, campaign, tokens, /healthz and claims rows).

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("TOKENS") or "/tmp/hotdeal-tokens.txt"
  local campaign = os.getenv("CAMPAIGN") or error("set CAMPAIGN to the couponInfoId")
  local nthreads = tonumber(os.getenv("WRK_THREADS") or "2")
  tokens = {}
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == id then
      tokens[#tokens + 1] = line
    end
    i = i + 1
  end
  if #tokens == 0 then
    error("no tokens for thread " .. id .. " in " .. path)
  end
  body = '{"couponInfoId":"' .. campaign .. '"}'
  next_token = 1
  statuses = {}
end

function request()
  local token = tokens[next_token]
  next_token = next_token + 1
  if next_token > #tokens then
    next_token = 1
  end
  return wrk.format("POST", "/api/v1/coupons/issue", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end

-- Counting answers by status needs wrk to hand every response to Lua (a headers table and a
-- body string each), and the garbage that makes shows up as client-side stalls in the latency
-- tail (p99 134 ms against 44 ms without, same server). So it is on only with STATUSES=1;
-- without it wrk still counts the non-2xx answers ("Non-2xx or 3xx responses").
if os.getenv("STATUSES") == "1" then
  function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  io.write(string.format("p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then
      for code, n in pairs(s) do
        io.write(string.format("thread %d: status %d x %d\n", t:get("id"), code, n))
      end
    end
  end
end
