-- wrk script: every request carries the same `Authorization: Bearer <token>` (the first line of
-- TOKENS). The header is set once, so wrk sends a pre-built request (no per-request Lua work).
local file = io.open(os.getenv("TOKENS"))
local token = file:read("*l")
file:close()
wrk.headers["Authorization"] = "Bearer " .. token
