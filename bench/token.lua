-- wrk script: sends `Authorization: Bearer <token>` with tokens read from TOKENS (one per line),
-- round robin per thread. DELAY_MS (optional) waits between requests on each connection, to send
-- a bounded-rate stream beside another load.
local tokens = {}
local index = 0
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")

function init(args)
  for line in io.lines(os.getenv("TOKENS")) do
    tokens[#tokens + 1] = "Bearer " .. line
  end
  index = math.random(#tokens)
end

function request()
  index = index % #tokens + 1
  return wrk.format("GET", "/me", { ["Authorization"] = tokens[index] })
end

function delay()
  return delay_ms
end
