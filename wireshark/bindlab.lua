-- bindlab.lua: a Wireshark postdissector that turns bindlab's decision records into fields.
--
-- bindlab writes, on every packet that carries a decision (the SYN, the SYN-ACK or RST that
-- answers it, the unanswered ARP or neighbour solicitations), a second packet comment of the form
--   bindlab/1 {"policy":"linux","result":"accepted","socket":"web",...}
-- beside the human one (in a replay's output, a repeat refers to a record written in full
-- before: `bindlab/1 =KEY`). This script reads that record and adds the `bindlab` protocol to the
-- packet: filter with `bindlab.socket == "web"`, `bindlab.result == "refused"`, add
-- `bindlab.accepted_by` as a column. The record's format is specified, versioned, in the
-- package's docs/wireshark.md.
--
-- Use: tshark -X lua_script:bindlab.lua -r capture.pcapng -Y 'bindlab.socket == "web"'
-- or `bindlab wireshark --install`, which copies it into Wireshark's personal Lua plugin folder.

local SUPPORTED_VERSION = 1

local proto = Proto("bindlab", "bindlab decision")

local pf = {
  version = ProtoField.uint8("bindlab.version", "Record version", base.DEC),
  policy = ProtoField.string("bindlab.policy", "Policy"),
  result = ProtoField.string("bindlab.result", "Result"),
  to = ProtoField.string("bindlab.to", "Destination"),
  accepted_by = ProtoField.string("bindlab.accepted_by", "Accepted by"),
  host = ProtoField.string("bindlab.host", "Host"),
  process = ProtoField.string("bindlab.process", "Process"),
  socket = ProtoField.string("bindlab.socket", "Socket"),
  uid = ProtoField.uint32("bindlab.uid", "uid", base.DEC),
  group = ProtoField.string("bindlab.group", "SO_REUSEPORT group"),
  group_member = ProtoField.string("bindlab.group.member", "Member"),
  group_size = ProtoField.uint32("bindlab.group.size", "Members", base.DEC),
  displaced = ProtoField.string("bindlab.displaced", "Displaced listener"),
  displaced_uid = ProtoField.uint32("bindlab.displaced.uid", "Displaced listener's uid", base.DEC),
  other_uid = ProtoField.bool("bindlab.other_uid", "Accepted by another uid than the listener it displaced"),
  rule = ProtoField.string("bindlab.rule", "Rule"),
  citation = ProtoField.string("bindlab.citation", "Citation"),
  step = ProtoField.uint32("bindlab.step", "Scenario step", base.DEC),
  observed = ProtoField.string("bindlab.observed", "Capture shows"),
  agree = ProtoField.bool("bindlab.agree", "Policy agrees with the capture"),
  protocol = ProtoField.string("bindlab.protocol", "Protocol decided"),
  packet = ProtoField.string("bindlab.packet", "Packet"),
  receivers = ProtoField.string("bindlab.receivers", "Receivers (each a copy)"),
  receivers_member = ProtoField.string("bindlab.receivers.member", "Receiver"),
}
proto.fields = pf

local ef = {
  other_uid = ProtoExpert.new("bindlab.other_uid.expert", "Accepted by another uid than the listener it displaced",
    expert.group.SECURITY, expert.severity.NOTE),
  disagree = ProtoExpert.new("bindlab.disagree", "The policy disagrees with the capture", expert.group.SEQUENCE, expert.severity.NOTE),
  version = ProtoExpert.new("bindlab.version.unknown", "bindlab record of a newer version: update bindlab.lua",
    expert.group.UNDECODED, expert.severity.NOTE),
  malformed = ProtoExpert.new("bindlab.malformed", "bindlab record is not valid JSON", expert.group.MALFORMED, expert.severity.WARN),
}
proto.experts = ef

-- The packet comments. The field is frame.comment since Wireshark 1.12 (pkt_comment before).
local comment_field
for _, name in ipairs({ "frame.comment", "pkt_comment" }) do
  local ok, f = pcall(Field.new, name)
  if ok and f then comment_field = f break end
end

-- ---- a small JSON reader: the records are objects of strings, integers, booleans, lists ----

local decode_value

local function skip_space(s, i)
  return (s:find("[^ \t\r\n]", i)) or (#s + 1)
end

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function utf8_char(code)
  if code < 0x80 then return string.char(code) end
  if code < 0x800 then return string.char(0xC0 + math.floor(code / 64), 0x80 + code % 64) end
  if code < 0x10000 then
    return string.char(0xE0 + math.floor(code / 4096), 0x80 + math.floor(code / 64) % 64, 0x80 + code % 64)
  end
  return string.char(0xF0 + math.floor(code / 262144), 0x80 + math.floor(code / 4096) % 64,
    0x80 + math.floor(code / 64) % 64, 0x80 + code % 64)
end

local function decode_string(s, i)
  -- s:sub(i, i) is the opening quote
  local parts, j = {}, i + 1
  while true do
    local k = s:find('["\\]', j)
    if not k then error("unterminated string") end
    parts[#parts + 1] = s:sub(j, k - 1)
    if s:sub(k, k) == '"' then return table.concat(parts), k + 1 end
    local c = s:sub(k + 1, k + 1)
    if c == "u" then
      local hex = s:sub(k + 2, k + 5)
      if not hex:match("^%x%x%x%x$") then error("bad \\u escape") end
      local code = tonumber(hex, 16)
      local after = k + 6
      -- a surrogate pair
      if code >= 0xD800 and code <= 0xDBFF and s:sub(after, after + 1) == "\\u" then
        local low = tonumber(s:sub(after + 2, after + 5), 16)
        if low and low >= 0xDC00 and low <= 0xDFFF then
          code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
          after = after + 6
        end
      end
      parts[#parts + 1] = utf8_char(code)
      j = after
    else
      local e = ESCAPES[c]
      if not e then error("bad escape") end
      parts[#parts + 1] = e
      j = k + 2
    end
  end
end

function decode_value(s, i)
  i = skip_space(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    local obj = {}
    i = skip_space(s, i + 1)
    if s:sub(i, i) == "}" then return obj, i + 1 end
    while true do
      i = skip_space(s, i)
      if s:sub(i, i) ~= '"' then error("expected a key") end
      local key
      key, i = decode_string(s, i)
      i = skip_space(s, i)
      if s:sub(i, i) ~= ":" then error("expected ':'") end
      obj[key], i = decode_value(s, i + 1)
      i = skip_space(s, i)
      local d = s:sub(i, i)
      if d == "}" then return obj, i + 1 end
      if d ~= "," then error("expected ',' or '}'") end
      i = i + 1
    end
  elseif c == "[" then
    local list = {}
    i = skip_space(s, i + 1)
    if s:sub(i, i) == "]" then return list, i + 1 end
    while true do
      list[#list + 1], i = decode_value(s, i)
      i = skip_space(s, i)
      local d = s:sub(i, i)
      if d == "]" then return list, i + 1 end
      if d ~= "," then error("expected ',' or ']'") end
      i = i + 1
    end
  elseif c == '"' then
    return decode_string(s, i)
  elseif s:sub(i, i + 3) == "true" then
    return true, i + 4
  elseif s:sub(i, i + 4) == "false" then
    return false, i + 5
  elseif s:sub(i, i + 3) == "null" then
    return nil, i + 4
  end
  local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
  if num and #num > 0 then return tonumber(num), i + #num end
  error("unexpected character at " .. i)
end

local function decode_json(s)
  local v, i = decode_value(s, 1)
  if skip_space(s, i) <= #s then error("trailing characters") end
  return v
end

-- ---- records ----

-- Parsed records by comment text: a capture repeats a few distinct records over many packets,
-- and Wireshark dissects a packet again each time it is shown. Forgotten all at once past a bound.
local cache, cached = {}, 0
local CACHE_MAX = 4096

-- A replay writes each record in full once and then refers to it: `bindlab/1 =KEY`, KEY 12 hex
-- digits made from the record's bytes (docs/wireshark.md, "Replays"; src/replay/record-reference.ts
-- makes them the same way). Wireshark dissects a file's frames in order first, so a reference
-- finds the record it stands for here, by the key of every full record seen so far. Emptied for
-- each file.
local by_key = {}

function proto.init()
  cache, cached, by_key = {}, 0, {}
end

-- Two polynomial hashes modulo primes below 2^24: every step is exact in Lua's numbers (integers
-- or doubles) as in JavaScript's.
local function record_key(text)
  local h1, h2 = 0, 0
  for i = 1, #text do
    local b = text:byte(i)
    h1 = (h1 * 257 + b + 1) % 16777213
    h2 = (h2 * 263 + b + 1) % 16777199
  end
  return string.format("%06x%06x", h1, h2)
end

-- The record of a packet: the last comment that starts "bindlab/N " (a replay keeps a capture's
-- own comments and appends its decision last). Returns version, record or nil, error text.
local function packet_record()
  if not comment_field then return nil end
  local found
  for _, fi in ipairs({ comment_field() }) do
    local text = fi.value
    if type(text) == "string" and text:sub(1, 8) == "bindlab/" then found = text end
  end
  if not found then return nil end
  local hit = cache[found]
  if hit then return hit[1], hit[2], hit[3] end
  local version, json = found:match("^bindlab/(%d+) (.*)$")
  version = tonumber(version)
  local key = json and json:match("^=(%x+)$")
  if key and version == SUPPORTED_VERSION then
    local full = by_key[key]
    if full then return full[1], full[2], full[3] end
    -- Not cached: the full record may come later in a file whose frames are out of order.
    return version, nil, "refers to a record (key " .. key .. ") that no earlier packet carries in full"
  end
  local rec, err
  if not version then
    err = "no version"
  elseif version == SUPPORTED_VERSION then
    local ok, v = pcall(decode_json, json)
    if ok and type(v) == "table" then rec = v else err = tostring(v) end
  end
  if cached >= CACHE_MAX then cache, cached = {}, 0 end
  hit = { version, rec, err }
  cache[found] = hit
  cached = cached + 1
  if rec then by_key[record_key(found)] = hit end
  return version, rec, err
end

local function add_string(tree, field, value)
  if type(value) == "string" then return tree:add(field, value) end
end

local function add_number(tree, field, value)
  if type(value) == "number" then return tree:add(field, value) end
end

function proto.dissector(tvb, pinfo, tree)
  local version, rec, err = packet_record()
  if not version then return end
  local t = tree:add(proto, "bindlab decision")
  t:add(pf.version, version)
  if not rec then
    if err then t:add_proto_expert_info(ef.malformed, "bindlab record: " .. err)
    else t:add_proto_expert_info(ef.version) end
    return
  end
  local summary = (rec.policy or "?") .. ": " .. (rec.result or "?")
  add_string(t, pf.policy, rec.policy)
  add_string(t, pf.result, rec.result)
  add_string(t, pf.to, rec.to)
  if type(rec.socket) == "string" then
    local by = (rec.host or "?") .. "/" .. (rec.process or "?") .. "/" .. rec.socket
    summary = summary .. " by " .. by
    t:add(pf.accepted_by, by)
    add_string(t, pf.host, rec.host)
    add_string(t, pf.process, rec.process)
    add_string(t, pf.socket, rec.socket)
    add_number(t, pf.uid, rec.uid)
  end
  -- UDP (issue 18): the datagram's receivers, each with a copy; which packet of the exchange this is.
  add_string(t, pf.protocol, rec.protocol)
  add_string(t, pf.packet, rec.packet)
  if rec.protocol == "udp" and type(rec.socket) == "string" then
    local all = type(rec.receivers) == "table" and rec.receivers or { rec.socket }
    local r = t:add(pf.receivers, table.concat(all, ","))
    for _, m in ipairs(all) do add_string(r, pf.receivers_member, m) end
  end
  if type(rec.group) == "table" then
    local g = t:add(pf.group, table.concat(rec.group, ","))
    g:add(pf.group_size, #rec.group)
    for _, m in ipairs(rec.group) do add_string(g, pf.group_member, m) end
  end
  local d = rec.displaced
  if type(d) == "table" and type(d.socket) == "string" then
    local dt = t:add(pf.displaced, (d.host or "?") .. "/" .. (d.process or "?") .. "/" .. d.socket)
    add_number(dt, pf.displaced_uid, d.uid)
    if type(d.uid) == "number" and type(rec.uid) == "number" and d.uid ~= rec.uid then
      local o = t:add(pf.other_uid, true)
      o:add_proto_expert_info(ef.other_uid)
      summary = summary .. " (another uid)"
    end
  end
  add_string(t, pf.rule, rec.rule)
  add_string(t, pf.citation, rec.citation)
  add_number(t, pf.step, rec.step)
  add_string(t, pf.observed, rec.observed)
  if type(rec.agree) == "boolean" then
    local a = t:add(pf.agree, rec.agree)
    if not rec.agree then a:add_proto_expert_info(ef.disagree) end
    summary = summary .. (rec.agree and ", agrees with the capture" or ", disagrees with the capture")
  end
  t:append_text(" (" .. summary .. ")")
end

register_postdissector(proto)
