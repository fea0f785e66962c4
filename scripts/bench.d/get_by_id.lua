-- wrk: GET /api/v1/messages/{id} for random ids from $BENCH_IDS, authenticated with $BENCH_TOKEN.
local ids = {}
local token = os.getenv("BENCH_TOKEN")
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
math.randomseed(os.time())
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/api/v1/messages/" .. id, { ["Authorization"] = "Bearer " .. token })
end
