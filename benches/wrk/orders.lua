-- wrk script: POST /api/v1/orders, a buy-now order of one unit of a time-sale product.
--
-- Reads a file written by `hotdeal load --scenario order --setup-only --users N --users-out F`:
-- one shopper a line, its access token and the id of its address. Each wrk thread takes its own
-- slice of the shoppers, so every order is a new shopper's. When a thread runs out it starts its
-- slice again; those repeats are answered 409 (LIMIT_EXCEEDED: the set-up's sale allows one unit
-- per customer) and show up as non-2xx in wrk's summary, so make enough shoppers for the run.
--
--   USERS=/tmp/users.txt PRODUCT=<productId> \
--     wrk -t2 -c64 -d10s -s benches/wrk/orders.lua http://127.0.0.1:8080
--
-- `SCENARIO=order benches/wrk/run.sh` does the whole thing.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("USERS") or error("set USERS to the file of 'token addressId' lines")
  local product = os.getenv("PRODUCT") or error("set PRODUCT to the productId")
  local nthreads = tonumber(os.getenv("WRK_THREADS") or "2")
  requests = {}
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == id then
      local token, address = line:match("^(%S+)%s+(%S+)$")
      if not token then
        error("line " .. (i + 1) .. " of " .. path .. " is not 'token addressId'")
      end
      local body = '{"items":[{"productId":"' .. product .. '","quantity":1}],"addressId":"'
        .. address .. '"}'
      requests[#requests + 1] = wrk.format("POST", "/api/v1/orders", {
        ["Authorization"] = "Bearer " .. token,
        ["Content-Type"] = "application/json",
      }, body)
    end
    i = i + 1
  end
  if #requests == 0 then
    error("no shoppers for thread " .. id .. " in " .. path)
  end
  next_request = 1
  statuses = {}
end

function request()
  local r = requests[next_request]
  next_request = next_request + 1
  if next_request > #requests then
    next_request = 1
  end
  return r
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
