// Tests of the telnet codec: node --test webui/assets/js/telnet.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  IAC, DO, DONT, WILL, WONT, SB, SE, NOP, AYT, OPT, TTYPE_SEND, TTYPE_IS,
  Decoder, Negotiator, TelnetSession, encodeData, encodeSubnegotiation, encodeWindowSize,
} from './telnet.js';

const bytes = (...a) => Uint8Array.from(a.flat());
const ascii = (s) => Array.from(s, (c) => c.charCodeAt(0));

test('encodeData doubles IAC and turns a lone CR into CR NUL', () => {
  const cases = [
    { name: 'plain', in: ascii('ls'), binary: false, want: ascii('ls') },
    { name: 'iac', in: [1, IAC, 2], binary: false, want: [1, IAC, IAC, 2] },
    { name: 'iac binary', in: [IAC, IAC], binary: true, want: [IAC, IAC, IAC, IAC] },
    { name: 'enter', in: [13], binary: false, want: [13, 0] },
    { name: 'crlf kept', in: [13, 10], binary: false, want: [13, 10] },
    { name: 'cr then text', in: [13, 65], binary: false, want: [13, 0, 65] },
    { name: 'enter binary', in: [13], binary: true, want: [13] },
    { name: 'empty', in: [], binary: false, want: [] },
  ];
  for (const c of cases) {
    assert.deepEqual(encodeData(Uint8Array.from(c.in), c.binary), Uint8Array.from(c.want), c.name);
  }
});

test('encodeSubnegotiation and NAWS escape IAC', () => {
  assert.deepEqual(encodeSubnegotiation(OPT.TTYPE, [TTYPE_IS, ...ascii('xterm')]),
    bytes(IAC, SB, OPT.TTYPE, TTYPE_IS, ascii('xterm'), IAC, SE));
  // 255 columns: the low byte is IAC and must be doubled.
  assert.deepEqual(encodeWindowSize(24, 255), bytes(IAC, SB, OPT.NAWS, 0, IAC, IAC, 0, 24, IAC, SE));
  assert.deepEqual(encodeWindowSize(-5, 70000), bytes(IAC, SB, OPT.NAWS, IAC, IAC, IAC, IAC, 0, 0, IAC, SE));
});

function decodeAll(dec, chunks) {
  const data = [];
  const events = [];
  for (const ch of chunks) {
    for (const it of dec.decode(Uint8Array.from(ch))) {
      if (it instanceof Uint8Array) data.push(...it);
      else events.push(it);
    }
  }
  return { data, events };
}

test('Decoder separates data, negotiation, subnegotiation and commands', () => {
  const input = [...ascii('a'), IAC, IAC, ...ascii('b'), IAC, DO, OPT.NAWS, IAC, SB, OPT.TTYPE, TTYPE_SEND, IAC, SE,
    IAC, NOP, ...ascii('c')];
  const whole = decodeAll(new Decoder(), [input]);
  assert.deepEqual(whole.data, [97, IAC, 98, 99]);
  assert.deepEqual(whole.events.map((e) => e.kind), ['negotiation', 'subnegotiation', 'command']);
  assert.equal(whole.events[0].command, DO);
  assert.equal(whole.events[0].option, OPT.NAWS);
  assert.deepEqual(Array.from(whole.events[1].data), [TTYPE_SEND]);
  assert.equal(whole.events[2].command, NOP);
  // Split at every byte boundary: the same result.
  const split = decodeAll(new Decoder(), input.map((b) => [b]));
  assert.deepEqual(split.data, whole.data);
  assert.deepEqual(split.events, whole.events);
});

test('Decoder strips CR NUL outside binary, across chunks', () => {
  const d = new Decoder();
  assert.deepEqual(decodeAll(d, [[65, 13], [0, 66, 13, 10]]).data, [65, 13, 66, 13, 10]);
  const b = new Decoder();
  b.stripCRNUL = false;
  assert.deepEqual(decodeAll(b, [[13, 0]]).data, [13, 0]);
});

test('Decoder handles IAC IAC inside a subnegotiation and a missing IAC SE', () => {
  const d = new Decoder();
  const r = decodeAll(d, [[IAC, SB, OPT.NAWS, 0, IAC, IAC, 0, 24, IAC, SE]]);
  assert.deepEqual(Array.from(r.events[0].data), [0, IAC, 0, 24]);
  const m = decodeAll(new Decoder(), [[IAC, SB, OPT.TTYPE, TTYPE_SEND, IAC, WILL, OPT.ECHO, 120]]);
  assert.deepEqual(m.events.map((e) => e.kind), ['subnegotiation', 'negotiation']);
  assert.equal(m.events[1].option, OPT.ECHO);
  assert.deepEqual(m.data, [120]);
});

test('Decoder drops oversized subnegotiations and stray commands without throwing', () => {
  const d = new Decoder(8);
  const big = [IAC, SB, OPT.TTYPE, ...new Array(100).fill(65), IAC, SE, ...ascii('ok')];
  const r = decodeAll(d, [big]);
  assert.equal(r.events.length, 0);
  assert.deepEqual(r.data, ascii('ok'));
  assert.equal(d.dropped, 1);
  const s = new Decoder();
  const r2 = decodeAll(s, [[IAC, SE, IAC, 17, ...ascii('x')]]);
  assert.deepEqual(r2.data, ascii('x'));
  assert.equal(s.dropped, 2);
});

test('Decoder survives random input', () => {
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const d = new Decoder(64);
  for (let i = 0; i < 2000; i++) {
    const n = rnd() % 64;
    const chunk = new Uint8Array(n);
    for (let j = 0; j < n; j++) chunk[j] = rnd() % 4 === 0 ? 240 + (rnd() % 16) : rnd() & 255;
    const items = d.decode(chunk);
    for (const it of items) {
      if (!(it instanceof Uint8Array)) {
        assert.ok(['negotiation', 'subnegotiation', 'command'].includes(it.kind));
        if (it.kind === 'subnegotiation') assert.ok(it.data.length <= 64);
      }
    }
  }
});

test('Negotiator follows the policy and never loops (RFC 1143)', () => {
  const n = new Negotiator();
  assert.deepEqual(n.receive(WILL, OPT.ECHO), [IAC, DO, OPT.ECHO]);
  assert.ok(n.remote(OPT.ECHO));
  assert.deepEqual(n.receive(WILL, OPT.ECHO), [], 'repeated WILL is not answered');
  assert.deepEqual(n.receive(DO, OPT.ECHO), [IAC, WONT, OPT.ECHO], 'the client never echoes');
  assert.deepEqual(n.receive(DO, OPT.NAWS), [IAC, WILL, OPT.NAWS]);
  assert.deepEqual(n.receive(WILL, 37), [IAC, DONT, 37], 'AUTHENTICATION refused');
  assert.deepEqual(n.receive(DO, 38), [IAC, WONT, 38], 'ENCRYPT refused');
  assert.deepEqual(n.receive(DO, 34), [IAC, WONT, 34], 'LINEMODE refused');
  assert.deepEqual(n.receive(WONT, OPT.ECHO), [IAC, DONT, OPT.ECHO]);
  assert.ok(!n.remote(OPT.ECHO));
  assert.deepEqual(n.receive(WONT, OPT.ECHO), []);
  // Our request answered positively completes without a reply.
  assert.deepEqual(n.enableRemote(OPT.SGA), [IAC, DO, OPT.SGA]);
  assert.deepEqual(n.receive(WILL, OPT.SGA), []);
  assert.ok(n.remote(OPT.SGA));
  // Our request refused.
  assert.deepEqual(n.enableLocal(OPT.TTYPE), [IAC, WILL, OPT.TTYPE]);
  assert.deepEqual(n.receive(DONT, OPT.TTYPE), []);
  assert.ok(!n.local(OPT.TTYPE));
  // Accepted options by side.
  for (const o of [OPT.BINARY, OPT.SGA, OPT.TTYPE, OPT.NAWS, OPT.EOR]) {
    const m = new Negotiator();
    assert.deepEqual(m.receive(DO, o), [IAC, WILL, o], `DO ${o}`);
  }
  for (const o of [OPT.BINARY, OPT.ECHO, OPT.SGA, OPT.EOR]) {
    const m = new Negotiator();
    assert.deepEqual(m.receive(WILL, o), [IAC, DO, o], `WILL ${o}`);
  }
});

test('TelnetSession negotiates like the Go client', () => {
  const t = new TelnetSession({ terminalType: 'xterm-256color', rows: 30, cols: 100 });
  assert.deepEqual(t.start(), bytes(IAC, DO, OPT.SGA, IAC, DO, OPT.ECHO, IAC, WILL, OPT.TTYPE, IAC, WILL, OPT.NAWS));
  assert.equal(t.start().length, 0, 'start only once');
  // Before NAWS is agreed, a resize sends nothing.
  assert.equal(t.resize(30, 100).length, 0);
  // The host agrees to NAWS: the size goes at once, no WILL repeated.
  let r = t.receive(bytes(IAC, DO, OPT.NAWS));
  assert.deepEqual(r.reply, encodeWindowSize(30, 100));
  assert.deepEqual(t.resize(40, 120), encodeWindowSize(40, 120));
  // TTYPE SEND → IS xterm-256color.
  r = t.receive(bytes(IAC, DO, OPT.TTYPE, IAC, SB, OPT.TTYPE, TTYPE_SEND, IAC, SE, ascii('login: ')));
  assert.deepEqual(r.reply, encodeSubnegotiation(OPT.TTYPE, [TTYPE_IS, ...ascii('xterm-256color')]));
  assert.deepEqual(Array.from(r.data), ascii('login: '));
  // Host echo and SGA answers complete our requests silently.
  r = t.receive(bytes(IAC, WILL, OPT.ECHO, IAC, WILL, OPT.SGA, IAC, AYT));
  assert.equal(r.reply.length, 0);
  // Enter is CR NUL until BINARY is agreed for our side.
  assert.deepEqual(t.send(bytes(13)), bytes(13, 0));
  r = t.receive(bytes(IAC, DO, OPT.BINARY, IAC, WILL, OPT.BINARY));
  assert.deepEqual(r.reply, bytes(IAC, WILL, OPT.BINARY, IAC, DO, OPT.BINARY));
  assert.deepEqual(t.send(bytes(13, IAC)), bytes(13, IAC, IAC));
  // In BINARY the host's CR NUL is data.
  assert.deepEqual(Array.from(t.receive(bytes(13, 0)).data), [13, 0]);
});

test('TelnetSession without NAWS or TTYPE agreement stays quiet', () => {
  const t = new TelnetSession();
  t.start();
  let r = t.receive(bytes(IAC, DONT, OPT.NAWS, IAC, DONT, OPT.TTYPE));
  assert.equal(r.reply.length, 0);
  r = t.receive(bytes(IAC, SB, OPT.TTYPE, TTYPE_SEND, IAC, SE));
  assert.equal(r.reply.length, 0, 'TTYPE SEND is ignored when TTYPE is off');
  assert.equal(t.resize(10, 10).length, 0);
});
