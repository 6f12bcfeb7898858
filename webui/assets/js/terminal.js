// The browser terminal: xterm.js on the page, bytes over the proxy's
// WebSocket front end (see the package documentation of webui for the
// contract), telnet negotiation done here by telnet.js.

import { TelnetSession } from './telnet.js';

export const SUBPROTOCOL = 'termgate.v1';
export const BEARER_PREFIX = 'bearer.';

// Close codes the proxy uses: 4000 + the HTTP status of the equivalent
// CONNECT failure, with the Termgate-Error code as the reason.
const CLOSE_TEXT = {
  1000: 'The host closed the session.',
  1001: 'The proxy is going away (draining).',
  1006: 'The connection to the proxy failed. Check that your browser trusts the proxy\'s certificate and that the proxy serves /ws.',
  4400: 'The proxy rejected the request.',
  4403: 'The proxy refused this destination.',
  4407: 'The proxy refused the authorization token.',
  4429: 'Too many sessions: try again shortly.',
  4502: 'The proxy could not reach the host.',
  4503: 'The proxy is unavailable (draining or overloaded).',
  4504: 'The host did not answer in time.',
};

export function closeMessage(code, reason) {
  const base = CLOSE_TEXT[code] || `The session ended (code ${code}).`;
  return reason ? `${base} (${reason})` : base;
}

// wsURL is the proxy's WebSocket URL for a launch response.
export function wsURL(launch) {
  const addr = String(launch?.proxy?.address || '');
  if (!/^[A-Za-z0-9.\-]+:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/.test(addr)) {
    throw new Error(`launch response has no usable proxy address (${addr || 'empty'})`);
  }
  return `wss://${addr}/ws`;
}

// subprotocols carries the token in Sec-WebSocket-Protocol, never in the URL.
export function subprotocols(token) {
  if (!/^[A-Za-z0-9_\-.]+$/.test(String(token || ''))) throw new Error('launch response has no usable token');
  return [SUBPROTOCOL, BEARER_PREFIX + token];
}

// BROWSER_PROTOCOLS are the session protocols the page can drive.
export const BROWSER_PROTOCOLS = ['telnet', 'tcp'];

// open starts a terminal in container for a launch response. onStatus
// receives (message, kind); onEscape runs when the user presses Ctrl+] to
// leave the terminal. It returns {term, close()}.
export function open(container, launch, onStatus, onEscape) {
  const { Terminal, CanvasAddon, FitAddon } = globalThis;
  if (!Terminal || !CanvasAddon || !FitAddon) throw new Error('the terminal library did not load');
  const proto = launch.session.protocol;
  if (!BROWSER_PROTOCOLS.includes(proto)) throw new Error(`a ${proto} session cannot run in the browser; use termgate connect`);
  const t = launch.session.terminal || {};
  const rows = t.rows > 0 ? t.rows : 24;
  const cols = t.cols > 0 ? t.cols : 80;
  const term = new Terminal({
    rows, cols, convertEol: false, cursorBlink: true, scrollback: 5000,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace', fontSize: 15,
    screenReaderMode: false,
  });
  // The canvas renderer must be loaded before open(): xterm.js's default DOM
  // renderer injects inline styles, which the page's CSP forbids.
  term.loadAddon(new CanvasAddon.CanvasAddon());
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(container);
  // Ctrl+] (telnet's escape character) leaves the terminal for the page,
  // since every other key, Tab included, goes to the host.
  term.attachCustomKeyEventHandler((ev) => {
    if (ev.type === 'keydown' && ev.ctrlKey && (ev.key === ']' || ev.code === 'BracketRight')) {
      onEscape?.();
      return false;
    }
    return true;
  });

  const telnet = proto === 'telnet' ? new TelnetSession({ terminalType: t.model || 'xterm', rows, cols }) : null;
  const enc = new TextEncoder();
  const ws = new WebSocket(wsURL(launch), subprotocols(launch.token));
  ws.binaryType = 'arraybuffer';
  let closed = false;
  const send = (bytes) => {
    if (bytes.length > 0 && ws.readyState === WebSocket.OPEN) ws.send(bytes);
  };
  ws.addEventListener('open', () => {
    if (ws.protocol !== SUBPROTOCOL) {
      ws.close(1002, 'subprotocol');
      onStatus('The proxy did not accept the termgate.v1 protocol.', 'error');
      return;
    }
    onStatus(`Connected to ${launch.session.name}.`, 'ok');
    if (telnet) send(telnet.start());
    try {
      fit.fit();
    } catch { /* the container may be hidden */ }
    term.focus();
  });
  ws.addEventListener('message', (ev) => {
    if (typeof ev.data === 'string') {
      ws.close(1003, 'text frames are not part of termgate.v1');
      return;
    }
    const chunk = new Uint8Array(ev.data);
    if (telnet) {
      const { data, reply } = telnet.receive(chunk);
      send(reply);
      if (data.length) term.write(data);
    } else {
      term.write(chunk);
    }
  });
  ws.addEventListener('close', (ev) => {
    closed = true;
    onStatus(closeMessage(ev.code, ev.reason), ev.code === 1000 ? 'info' : 'error');
    term.options.disableStdin = true;
  });
  const keyData = term.onData((s) => {
    const bytes = enc.encode(s);
    send(telnet ? telnet.send(bytes) : bytes);
  });
  const binData = term.onBinary((s) => {
    const bytes = Uint8Array.from(s, (c) => c.charCodeAt(0) & 255);
    send(telnet ? telnet.send(bytes) : bytes);
  });
  const resized = term.onResize(({ rows: r, cols: c }) => {
    if (telnet) send(telnet.resize(r, c));
  });
  const onWindow = () => {
    try {
      fit.fit();
    } catch { /* ignore */ }
  };
  window.addEventListener('resize', onWindow);
  return {
    term,
    close() {
      window.removeEventListener('resize', onWindow);
      keyData.dispose();
      binData.dispose();
      resized.dispose();
      if (!closed) ws.close(1000, 'closed by user');
      term.dispose();
    },
  };
}
