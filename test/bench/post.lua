-- wrk script for the sink benchmark (test/bench/sink.ts): every request is a POST of one of
-- 100 pre-built 2048-byte JSON order documents, taken in rotation, Content-Type application/json.
-- The requests are formatted once at load time, so request() only picks the next one.
--
--   wrk -t1 -c64 -d10s --latency -s test/bench/post.lua http://127.0.0.1:PORT/ingest
--
-- At the end, done() prints one line for the harness: wrk's own CPU time in clock ticks
-- ("wrk-cpu: utime=U stime=S"), from /proc/self/stat, to tell whether wrk saturated its core.

local BODY_BYTES = 2048
local DISTINCT = 100

-- Park-Miller minimal standard generator: exact in doubles, deterministic across runs.
local seed = 20240611
local function rnd ()
  seed = (seed * 16807) % 2147483647
  return seed / 2147483647
end
local function pick (list) return list[math.floor(rnd() * #list) + 1] end
local function int (lo, hi) return lo + math.floor(rnd() * (hi - lo + 1)) end
local function hex (n)
  local t = {}
  for i = 1, n do t[i] = string.format('%x', math.floor(rnd() * 16)) end
  return table.concat(t)
end

local FIRST = { 'Anna', 'Ben', 'Chloe', 'David', 'Elena', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kemal', 'Lena', 'Marco', 'Nadia', 'Oskar', 'Priya' }
local LAST = { 'Andersson', 'Becker', 'Costa', 'Dubois', 'Evans', 'Fischer', 'Garcia', 'Horvat', 'Ivanova', 'Jensen', 'Kowalski', 'Lambert', 'Moreau', 'Novak' }
local PRODUCTS = { 'Merino Wool Sweater', 'Trail Running Shoe', 'Waterproof Shell Jacket', 'Organic Cotton T-Shirt', 'Insulated Water Bottle', 'Leather Card Holder', 'Wireless Earbuds', 'Mechanical Keyboard', 'Canvas Backpack 24L', 'USB-C Charging Hub' }
local COLORS = { 'BLK', 'WHT', 'NVY', 'GRN', 'RED', 'GRY' }
local SIZES = { 'XS', 'S', 'M', 'L', 'XL', 'OS' }
local CITIES = { { 'Berlin', 'DE', '10115' }, { 'Lyon', 'FR', '69002' }, { 'Milano', 'IT', '20121' }, { 'Austin', 'US', '78701' }, { 'Leeds', 'GB', 'LS1 4AP' }, { 'Porto', 'PT', '4050-262' } }
local STREETS = { 'Hauptstrasse', 'Rue de la Republique', 'Via Torino', 'Congress Ave', 'Briggate', 'Rua das Flores' }
local WORDS = { 'please', 'leave', 'parcel', 'with', 'neighbour', 'gift', 'wrap', 'no', 'invoice', 'in', 'box', 'deliver', 'after', '6pm', 'call', 'on', 'arrival', 'fragile', 'thanks', 'door', 'code' }
local CHANNELS = { 'web', 'ios', 'android', 'pos' }

-- One order-like JSON document of exactly `size` bytes (ASCII).
local function make_body (size)
  local first, last, city = pick(FIRST), pick(LAST), pick(CITIES)
  local head = string.format(
    '{"orderId":"ord-%09d","channel":"%s","createdAt":"2024-%02d-%02dT%02d:%02d:%02d.000Z",' ..
    '"customer":{"id":%d,"name":"%s %s","email":"%s.%s%d@example.com","marketingOptIn":%s},' ..
    '"shipping":{"method":"%s","address":{"line1":"%s %d","city":"%s","postalCode":"%s","country":"%s"}},' ..
    '"trace":"%s","items":[',
    int(0, 999999999), pick(CHANNELS), int(1, 12), int(1, 28), int(0, 23), int(0, 59), int(0, 59),
    int(100000, 999999), first, last, first:lower(), last:lower(), int(0, 99), rnd() < 0.4 and 'true' or 'false',
    pick({ 'standard', 'express', 'pickup' }), pick(STREETS), int(1, 180), city[1], city[3], city[2],
    hex(32))
  local items = {}
  local len = #head
  while true do
    local item = string.format(
      '{"sku":"SKU-%d-%s-%s","productId":%d,"name":"%s","quantity":%d,"unitPrice":%d.%02d,"inStock":%s}',
      int(10000, 99999), pick(COLORS), pick(SIZES), int(1000, 9999), pick(PRODUCTS), int(1, 4),
      int(5, 299), int(0, 99), rnd() < 0.9 and 'true' or 'false')
    -- Leave room for the closing part and a note of at least a few characters.
    if len + #item + 1 + 40 > size then break end
    items[#items + 1] = item
    len = len + #item + 1
  end
  local doc = head .. table.concat(items, ',') .. '],"notes":"'
  local tail = '"}'
  local room = size - #doc - #tail
  local notes = pick(WORDS)
  while #notes < room do notes = notes .. ' ' .. pick(WORDS) end
  notes = string.sub(notes, 1, room)
  doc = doc .. notes .. tail
  assert(#doc == size, 'body is ' .. #doc .. ' bytes, wanted ' .. size)
  return doc
end

local bodies = {}
for i = 1, DISTINCT do bodies[i] = make_body(BODY_BYTES) end

-- Formatted in init(): wrk sets wrk.headers.Host just before calling it (not yet at load time),
-- and wrk.format only adds Host from there; Node answers 400 to HTTP/1.1 without Host.
local requests = {}
function init (args)
  for i = 1, DISTINCT do
    requests[i] = wrk.format('POST', nil, {
      ['Host'] = wrk.headers['Host'],
      ['Content-Type'] = 'application/json',
      ['Accept'] = 'application/json',
      ['User-Agent'] = 'wrk-sink-bench/1'
    }, bodies[i])
  end
end

local next_index = 0

function request ()
  next_index = next_index % DISTINCT + 1
  return requests[next_index]
end

function done (summary, latency, requests)
  local f = io.open('/proc/self/stat', 'r')
  if f == nil then return end
  local stat = f:read('*l')
  f:close()
  -- Fields after the command name (which may hold spaces) start with the state, field 3;
  -- utime and stime are fields 14 and 15.
  local rest = stat:match('%) (.*)$')
  local fields = {}
  for v in rest:gmatch('%S+') do fields[#fields + 1] = v end
  io.write(string.format('wrk-cpu: utime=%s stime=%s\n', fields[12], fields[13]))
end
