-- wrk: POST /api/v1/messages as a citizen ($BENCH_TOKEN) to the leader $BENCH_LEADER.
local token = os.getenv("BENCH_TOKEN")
local leader = os.getenv("BENCH_LEADER")
local category = os.getenv("BENCH_CATEGORY")
local n = 0
request = function()
  n = n + 1
  local body = string.format(
    '{"leader_id":"%s","category_id":"%s","kind":"complaint","title":"压测留言%d 路口红绿灯坏了",' ..
    '"body":"城关区庆阳路与酒泉路交叉口的红绿灯已经坏了三天，早晚高峰非常拥堵，请尽快修理。编号%d",' ..
    '"region_code":"620102","visibility":"public"}', leader, category, n, n)
  return wrk.format("POST", "/api/v1/messages",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
