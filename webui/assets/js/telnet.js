// Telnet client codec and option negotiation for the in-browser terminal.
//
// Pure module: no DOM, no sockets. It mirrors termgate's Go client
// (emulator/telnet): the same options are accepted, the same RFC 1143
// "Q method" state machine prevents negotiation loops, IAC is doubled in
// data and subnegotiations, and outside BINARY mode a lone CR is sent as
// CR NUL and a received CR NUL becomes CR (RFC 854).
//
// RFCs: 854, 855, 856 (BINARY), 857 (ECHO), 858 (SGA), 885 (EOR),
// 1073 (NAWS), 1091 (TTYPE), 1143 (Q method).

export const IAC = 255;
export const DONT = 254;
export const DO = 253;
export const WONT = 252;
export const WILL = 251;
export const SB = 250;
export const GA = 249;
export const EL = 248;
export const EC = 247;
export const AYT = 246;
export const AO = 245;
export const IP = 244;
export const BRK = 243;
export const DM = 242;
export const NOP = 241;
export const SE = 240;
export const EOR = 239;

export const OPT = Object.freeze({
  BINARY: 0,
  ECHO: 1,
  SGA: 3,
  TTYPE: 24,
  EOR: 25,
  NAWS: 31,
});

export const TTYPE_IS = 0;
export const TTYPE_SEND = 1;

// DEFAULT_MAX_SUBNEGOTIATION bounds a received subnegotiation payload;
// longer ones are dropped whole.
export const DEFAULT_MAX_SUBNEGOTIATION = 4096;

// Options we agree to enable on our side (answer DO with WILL).
export function localOption(opt) {
  return opt === OPT.BINARY || opt === OPT.SGA || opt === OPT.TTYPE ||
    opt === OPT.NAWS || opt === OPT.EOR;
}

// Options we let the host enable on its side (answer WILL with DO).
export function remoteOption(opt) {
  return opt === OPT.BINARY || opt === OPT.ECHO || opt === OPT.SGA || opt === OPT.EOR;
}

// ---------- encoding ----------

// encodeData returns bytes as telnet data: IAC doubled and, unless binary,
// a CR not followed by LF (in the same chunk) sent as CR NUL.
export function encodeData(bytes, binary) {
  let extra = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === IAC || (c === 13 && !binary && (i + 1 >= bytes.length || bytes[i + 1] !== 10))) {
      extra++;
    }
  }
  const out = new Uint8Array(bytes.length + extra);
  let j = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    out[j++] = c;
    if (c === IAC) {
      out[j++] = IAC;
    } else if (c === 13 && !binary && (i + 1 >= bytes.length || bytes[i + 1] !== 10)) {
      out[j++] = 0;
    }
  }
  return out;
}

export function encodeNegotiation(cmd, opt) {
  return Uint8Array.of(IAC, cmd, opt);
}

// encodeSubnegotiation returns IAC SB opt payload IAC SE with IAC doubled
// in the payload.
export function encodeSubnegotiation(opt, payload) {
  const out = [IAC, SB, opt];
  for (const c of payload) {
    if (c === IAC) out.push(IAC);
    out.push(c);
  }
  out.push(IAC, SE);
  return Uint8Array.from(out);
}

// encodeWindowSize returns the NAWS subnegotiation (RFC 1073), each value
// clamped to 0..65535.
export function encodeWindowSize(rows, cols) {
  const clamp = (v) => Math.max(0, Math.min(65535, Math.trunc(Number(v) || 0)));
  const r = clamp(rows);
  const c = clamp(cols);
  return encodeSubnegotiation(OPT.NAWS, [c >> 8, c & 255, r >> 8, r & 255]);
}

function concat(chunks) {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

// ---------- decoding ----------

const ST_DATA = 0;
const ST_IAC = 1;
const ST_NEG = 2;
const ST_SB_OPT = 3;
const ST_SB_DATA = 4;
const ST_SB_IAC = 5;

const SIMPLE_COMMANDS = new Set([NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, EOR]);

// Decoder splits a received byte stream into data and events. It keeps its
// state between chunks, so a command may be split anywhere. Malformed input
// is dropped (counted in `dropped`), never thrown.
//
// Events: {kind: "negotiation", command, option}, {kind: "subnegotiation",
// option, data: Uint8Array}, {kind: "command", command}.
export class Decoder {
  constructor(maxSubnegotiation = DEFAULT_MAX_SUBNEGOTIATION) {
    this.maxSubnegotiation = maxSubnegotiation > 0 ? maxSubnegotiation : DEFAULT_MAX_SUBNEGOTIATION;
    this.stripCRNUL = true;
    this.dropped = 0;
    this._state = ST_DATA;
    this._cmd = 0;
    this._opt = 0;
    this._sb = [];
    this._overflow = false;
    this._afterCR = false;
  }

  // decode consumes chunk (a Uint8Array) and returns {data, events}, data
  // in order with the events interleaved as they occurred: `items` is the
  // ordered list of Uint8Array data runs and event objects.
  decode(chunk) {
    const items = [];
    let run = [];
    const flush = () => {
      if (run.length > 0) {
        items.push(Uint8Array.from(run));
        run = [];
      }
    };
    const emit = (ev) => {
      flush();
      items.push(ev);
    };
    const pushData = (c) => {
      if (this.stripCRNUL && c === 0 && this._afterCR) {
        this._afterCR = false;
        return;
      }
      this._afterCR = c === 13;
      run.push(c);
    };
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      switch (this._state) {
        case ST_DATA:
          if (c === IAC) this._state = ST_IAC;
          else pushData(c);
          break;
        case ST_IAC:
          if (c === IAC) {
            this._state = ST_DATA;
            pushData(IAC);
          } else if (c === WILL || c === WONT || c === DO || c === DONT) {
            this._cmd = c;
            this._state = ST_NEG;
          } else if (c === SB) {
            this._state = ST_SB_OPT;
          } else if (SIMPLE_COMMANDS.has(c)) {
            this._state = ST_DATA;
            emit({ kind: 'command', command: c });
          } else {
            this._state = ST_DATA; // stray SE or unknown command
            this.dropped++;
          }
          break;
        case ST_NEG:
          this._state = ST_DATA;
          emit({ kind: 'negotiation', command: this._cmd, option: c });
          break;
        case ST_SB_OPT:
          this._opt = c;
          this._sb = [];
          this._overflow = false;
          this._state = ST_SB_DATA;
          break;
        case ST_SB_DATA:
          if (c === IAC) this._state = ST_SB_IAC;
          else this._appendSB(c);
          break;
        case ST_SB_IAC:
          if (c === IAC) {
            this._appendSB(IAC);
            this._state = ST_SB_DATA;
          } else if (c === SE) {
            this._state = ST_DATA;
            const ev = this._endSB();
            if (ev) emit(ev);
          } else {
            // IAC <cmd> inside a subnegotiation: the peer forgot IAC SE.
            // End the subnegotiation and decode <cmd> as a command.
            const ev = this._endSB();
            if (ev) emit(ev);
            this._state = ST_IAC;
            i--;
          }
          break;
        default:
          this._state = ST_DATA;
      }
    }
    flush();
    return items;
  }

  _appendSB(c) {
    if (this._sb.length >= this.maxSubnegotiation) {
      this._overflow = true;
      return;
    }
    this._sb.push(c);
  }

  _endSB() {
    if (this._overflow) {
      this.dropped++;
      this._overflow = false;
      this._sb = [];
      return null;
    }
    const ev = { kind: 'subnegotiation', option: this._opt, data: Uint8Array.from(this._sb) };
    this._sb = [];
    return ev;
  }
}

// ---------- RFC 1143 negotiation ----------

const Q_NO = 0;
const Q_YES = 1;
const Q_WANTNO = 2;
const Q_WANTYES = 3;

function newSides() {
  const a = new Array(256);
  for (let i = 0; i < 256; i++) a[i] = { state: Q_NO, opposite: false };
  return a;
}

// Negotiator is the Q-method state of every option on both sides. Its
// methods return the bytes to send (possibly empty).
export class Negotiator {
  constructor(policy = { local: localOption, remote: remoteOption }) {
    this.policy = policy;
    this._us = newSides();
    this._him = newSides();
  }

  local(opt) { return this._us[opt & 255].state === Q_YES; }

  remote(opt) { return this._him[opt & 255].state === Q_YES; }

  receive(cmd, opt) {
    opt &= 255;
    switch (cmd) {
      case WILL: return receiveYes(this._him[opt], opt, DO, DONT, this.policy.remote);
      case WONT: return receiveNo(this._him[opt], opt, DO, DONT);
      case DO: return receiveYes(this._us[opt], opt, WILL, WONT, this.policy.local);
      case DONT: return receiveNo(this._us[opt], opt, WILL, WONT);
      default: return [];
    }
  }

  enableLocal(opt) { return askEnable(this._us[opt & 255], opt & 255, WILL); }

  disableLocal(opt) { return askDisable(this._us[opt & 255], opt & 255, WONT); }

  enableRemote(opt) { return askEnable(this._him[opt & 255], opt & 255, DO); }

  disableRemote(opt) { return askDisable(this._him[opt & 255], opt & 255, DONT); }
}

function receiveYes(s, opt, yes, no, agree) {
  switch (s.state) {
    case Q_NO:
      if (agree && agree(opt)) {
        s.state = Q_YES;
        return [IAC, yes, opt];
      }
      return [IAC, no, opt];
    case Q_YES:
      return []; // already on: ignoring is what prevents loops
    case Q_WANTNO:
      if (s.opposite) {
        s.state = Q_YES;
        s.opposite = false;
      } else {
        s.state = Q_NO;
      }
      return [];
    case Q_WANTYES:
      if (s.opposite) {
        s.state = Q_WANTNO;
        s.opposite = false;
        return [IAC, no, opt];
      }
      s.state = Q_YES;
      return [];
    default:
      return [];
  }
}

function receiveNo(s, opt, yes, no) {
  switch (s.state) {
    case Q_YES:
      s.state = Q_NO;
      return [IAC, no, opt];
    case Q_WANTNO:
      if (s.opposite) {
        s.state = Q_WANTYES;
        s.opposite = false;
        return [IAC, yes, opt];
      }
      s.state = Q_NO;
      return [];
    case Q_WANTYES:
      s.state = Q_NO;
      s.opposite = false;
      return [];
    default:
      return [];
  }
}

function askEnable(s, opt, yes) {
  switch (s.state) {
    case Q_NO:
      s.state = Q_WANTYES;
      return [IAC, yes, opt];
    case Q_WANTNO:
      s.opposite = true;
      return [];
    case Q_WANTYES:
      s.opposite = false;
      return [];
    default:
      return [];
  }
}

function askDisable(s, opt, no) {
  switch (s.state) {
    case Q_YES:
      s.state = Q_WANTNO;
      return [IAC, no, opt];
    case Q_WANTNO:
      s.opposite = false;
      return [];
    case Q_WANTYES:
      s.opposite = true;
      return [];
    default:
      return [];
  }
}

// ---------- session engine ----------

// TelnetSession is the client side of one telnet connection, without I/O:
// feed it what the host sent, give the host what it returns.
//
//   const t = new TelnetSession({terminalType: 'xterm', rows: 24, cols: 80});
//   ws.send(t.start());                       // DO SGA, DO ECHO, WILL TTYPE, WILL NAWS
//   const {data, reply} = t.receive(bytes);   // data for the screen, reply for the host
//   ws.send(t.send(keyboardBytes));           // IAC and CR escaped
//   ws.send(t.resize(rows, cols));            // NAWS, if the host agreed to it
export class TelnetSession {
  constructor({ terminalType = 'xterm', rows = 24, cols = 80, maxSubnegotiation } = {}) {
    this.terminalType = String(terminalType || 'xterm').slice(0, 40);
    this.rows = rows > 0 ? rows : 24;
    this.cols = cols > 0 ? cols : 80;
    this.neg = new Negotiator();
    this.dec = new Decoder(maxSubnegotiation);
    this._started = false;
  }

  // start returns the proactive negotiation, once (empty afterwards).
  start() {
    if (this._started) return new Uint8Array(0);
    this._started = true;
    return Uint8Array.from([
      ...this.neg.enableRemote(OPT.SGA),
      ...this.neg.enableRemote(OPT.ECHO),
      ...this.neg.enableLocal(OPT.TTYPE),
      ...this.neg.enableLocal(OPT.NAWS),
    ]);
  }

  // receive decodes bytes from the host; it returns the data for the screen
  // and the reply (negotiation answers) to send back, both Uint8Array.
  receive(chunk) {
    const data = [];
    const reply = [];
    for (const item of this.dec.decode(chunk)) {
      if (item instanceof Uint8Array) {
        data.push(item);
        continue;
      }
      if (item.kind === 'negotiation') {
        const wasLocal = this.neg.local(item.option);
        reply.push(Uint8Array.from(this.neg.receive(item.command, item.option)));
        if (item.option === OPT.BINARY) {
          this.dec.stripCRNUL = !this.neg.remote(OPT.BINARY);
        }
        if (item.option === OPT.NAWS && !wasLocal && this.neg.local(OPT.NAWS)) {
          reply.push(encodeWindowSize(this.rows, this.cols));
        }
      } else if (item.kind === 'subnegotiation') {
        if (item.option === OPT.TTYPE && item.data.length >= 1 && item.data[0] === TTYPE_SEND &&
          this.neg.local(OPT.TTYPE)) {
          const name = Array.from(this.terminalType, (ch) => ch.charCodeAt(0) & 127);
          reply.push(encodeSubnegotiation(OPT.TTYPE, [TTYPE_IS, ...name]));
        }
      }
    }
    return { data: concat(data), reply: concat(reply) };
  }

  // send encodes keyboard bytes for the host.
  send(bytes) {
    return encodeData(bytes, this.neg.local(OPT.BINARY));
  }

  // resize records the window size and returns the NAWS update to send
  // (empty while the host has not agreed to NAWS).
  resize(rows, cols) {
    this.rows = rows;
    this.cols = cols;
    if (!this.neg.local(OPT.NAWS)) return new Uint8Array(0);
    return encodeWindowSize(rows, cols);
  }
}
