-- wrk script: a flood of one-off tokens (TOKENS, one per line, round robin) with the tokens of the
-- users who keep coming back (HOT, one per line) mixed in: HOT_SHARE (default 0.5) of the requests
-- carry a hot token, picked at random.
local flood, hot = {}, {}
local index = 0
local hot_share = tonumber(os.getenv("HOT_SHARE") or "0.5")

function init(args)
  for line in io.lines(os.getenv("TOKENS")) do
    flood[#flood + 1] = "Bearer " .. line
  end
  for line in io.lines(os.getenv("HOT")) do
    hot[#hot + 1] = "Bearer " .. line
  end
  math.randomseed(os.time() + (args[1] and #args[1] or 0))
  index = math.random(#flood)
end

function request()
  local token
  if math.random() < hot_share then
    token = hot[math.random(#hot)]
  else
    index = index % #flood + 1
    token = flood[index]
  end
  return wrk.format("GET", "/me", { ["Authorization"] = token })
end
