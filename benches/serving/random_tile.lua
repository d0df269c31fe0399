-- wrk script: GET a random tile of one Deep Zoom level (the full-resolution one), as in
-- ../shared/PEERS.md ("Tile serving"): column and row each math.random(0, GRID - 1).
-- Env: TILE_PREFIX  path up to the level, e.g. "/slide_files/15/" (required)
--      TILE_GRID    tiles per side at that level (default 70: 17760x17802 in 256 px tiles)
--      TILE_SUFFIX  default ".jpg"
-- math.random is deliberately not seeded, so every target sees the same tile sequence.
-- No response() callback: defining one makes wrk parse every response into Lua, which
-- would slow the client (and so the fastest targets) down. Status errors come from wrk's
-- own count of non-2xx/3xx responses, summarised by done() below.
local prefix = os.getenv("TILE_PREFIX") or error("TILE_PREFIX not set")
local grid = tonumber(os.getenv("TILE_GRID") or "70")
local suffix = os.getenv("TILE_SUFFIX") or ".jpg"

request = function()
  local path = prefix .. math.random(0, grid - 1) .. "_" .. math.random(0, grid - 1) .. suffix
  return wrk.format("GET", path)
end

-- One machine-readable line for run.sh (latency in microseconds).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d bytes=%d p50_us=%.0f p99_us=%.0f max_us=%.0f "
      .. "connect=%d read=%d write=%d timeout=%d status=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status))
end
