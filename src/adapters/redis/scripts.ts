/**
 * The Lua scripts of the Redis queue, and a runner that sends them by SHA and falls back to
 * the full text once after a Redis restart (NOSCRIPT). A script runs atomically: no other
 * command is executed between its first and its last call, and with AOF on it is persisted
 * as one MULTI/EXEC block, so a restart replays all of it or none of it. That is what keeps
 * `depth` exact without XINFO GROUPS `lag` (which Redis 7.0 reports wrongly after trims and
 * AOF rewrites).
 *
 * Keys of one namespace share the hash tag `{namespace}`, so every script touches one slot.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface LuaScript {
  readonly name: string;
  readonly text: string;
  readonly sha: string;
}

function script(name: string, text: string): LuaScript {
  return { name, text, sha: createHash('sha1').update(text).digest('hex') };
}

/**
 * ENQUEUE
 * KEYS: stream, received, depth. ARGV: queueMax, n, then the n encoded events joined by
 * U+001E in one argument: one argument instead of one per event saves the client most of
 * its cost of writing the command, and an encoded event never holds U+001E (its header and
 * payload are JSON text, whose control characters are all escaped).
 * Guarantees: the blob is split and checked before anything is written, so either every
 * event is appended (in order, ids ascending) and both counters grow by exactly n, or nothing
 * changes: the caller learns the depth ('full'), or gets an error when the blob does not hold
 * exactly n events. depth + n <= queueMax holds after every call.
 * Returns {'ok', 'id1,id2,...'} or {'full', depth}: the ids as one string, because the
 * client decodes one reply element much faster than one per event.
 */
export const ENQUEUE = script(
  'enqueue',
  `local n = tonumber(ARGV[2])
local depth = tonumber(redis.call('GET', KEYS[3]) or '0')
if depth + n > tonumber(ARGV[1]) then
  return {'full', tostring(depth)}
end
local blob = ARGV[3]
local values = {}
local at = 1
for i = 1, n - 1 do
  local cut = string.find(blob, '\\30', at, true)
  if not cut then return redis.error_reply('ENQUEUE: fewer events than announced') end
  values[i] = string.sub(blob, at, cut - 1)
  at = cut + 1
end
values[n] = string.sub(blob, at)
if string.find(values[n], '\\30', 1, true) then
  return redis.error_reply('ENQUEUE: more events than announced')
end
local ids = {}
for i = 1, n do
  ids[i] = redis.call('XADD', KEYS[1], '*', 'e', values[i])
end
redis.call('INCRBY', KEYS[2], n)
redis.call('INCRBY', KEYS[3], n)
return {'ok', table.concat(ids, ',')}
`,
);

/**
 * READ
 * KEYS: stream. ARGV: group, consumer, count, start id ('>' for new entries, or an id to
 * re-read this consumer's pending entries after it).
 * Guarantees: exactly XREADGROUP GROUP ... COUNT ... STREAMS stream id, never blocking (a
 * script cannot block; the caller blocks with a plain XREADGROUP when this finds nothing).
 * Returns the entries as one string: id, 0xFF, value, 0xFF for each entry in stream order,
 * the value empty for an entry deleted while pending. 0xFF never occurs in UTF-8 text, so it
 * cannot occur in an id or a value, and the client decodes one reply element instead of five
 * per entry (the nested XREADGROUP reply cost more client CPU than anything else it did).
 * When nothing was read: '=' and the id of the stream's last entry ('0-0' when it is empty),
 * the id to wait after (XREAD BLOCK) for an entry newer than every one read so far.
 */
export const READ = script(
  'read',
  `local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],
  'STREAMS', KEYS[1], ARGV[4])
local function nothing()
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
  return '=' .. (last and last[1] or '0-0')
end
if not reply then return nothing() end
local out = {}
local n = 0
for _, entry in ipairs(reply[1][2]) do
  local value = ''
  local fields = entry[2]
  if fields then
    for i = 1, #fields, 2 do
      if fields[i] == 'e' then value = fields[i + 1] end
    end
  end
  out[n + 1] = entry[1]
  out[n + 2] = value
  n = n + 2
end
if n == 0 then return nothing() end
return table.concat(out, '\\255') .. '\\255'
`,
);

/**
 * ACK
 * KEYS: stream, depth. ARGV: group, then the entry ids.
 * Guarantees: depth drops by the number of entries XACK actually removed from the group's
 * pending list, so acking an id twice (or an id another consumer already acked after
 * claiming it) changes nothing the second time. Acked entries are deleted from the stream,
 * which keeps it bounded by the entries not yet acked (at most queueMax).
 * Returns the number of entries acknowledged by this call.
 */
export const ACK = script(
  'ack',
  `local acked = 0
local chunk = 500
for i = 2, #ARGV, chunk do
  local last = math.min(i + chunk - 1, #ARGV)
  acked = acked + redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, i, last))
  redis.call('XDEL', KEYS[1], unpack(ARGV, i, last))
end
if acked > 0 then
  redis.call('DECRBY', KEYS[2], acked)
end
return acked
`,
);

/**
 * FLOOR
 * KEYS: stream. ARGV: group.
 * Guarantees: computed from one snapshot of the group, every entry id below the returned
 * floor has been acked (or never existed) and can never be delivered again: pending entries
 * are all >= the oldest pending id, and entries not yet delivered are all above the group's
 * last delivered id. The store forgets applied delivery ids below it.
 * Returns "ms-seq", or false when the group does not exist.
 */
export const FLOOR = script(
  'floor',
  `local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
if tonumber(pending[1]) > 0 then
  return pending[2]
end
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, last
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] end
    if g[i] == 'last-delivered-id' then last = g[i + 1] end
  end
  if name == ARGV[1] then
    local ms, seq = string.match(last, '^(%d+)-(%d+)$')
    return ms .. '-' .. string.format('%d', tonumber(seq) + 1)
  end
end
return false
`,
);

/**
 * Runs a script by SHA; sends the text with EVAL when the server does not know it yet (first
 * use, or after a restart). Arguments travel as one array, never spread, so a batch of tens
 * of thousands of events does not hit the engine's argument limit.
 */
export function runScript(
  redis: Redis,
  lua: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  return evalScript(redis, 'call', lua, keys, args);
}

/** runScript, with the reply's strings as raw bytes. */
export function runScriptBuffer(
  redis: Redis,
  lua: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  return evalScript(redis, 'callBuffer', lua, keys, args);
}

async function evalScript(
  redis: Redis,
  method: 'call' | 'callBuffer',
  lua: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  const tail = (keys as readonly (string | number)[]).concat(args);
  const send = (command: string, first: string): Promise<unknown> =>
    redis[method](command, [first, keys.length].concat(tail));
  try {
    return await send('EVALSHA', lua.sha);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return send('EVAL', lua.text);
    throw err;
  }
}
